"""DualTTS's default model as package data: ``MODEL_DIR`` is the model folder (codec/, lm/, flow/, reader/,
prompt.wav, prompt.txt, bundle.json). ``dualtts`` finds it on its own (dualtts.model_path)."""
from pathlib import Path

MODEL_DIR = Path(__file__).resolve().parent / "model"

"""DualCodec: dual-stream low-frame-rate neural audio codec, and the Tokenizer contract (DualCodec, Mimi, EnCodec)."""
from dualtts.codec.chunked import decode_chunked, encode_chunked
from dualtts.codec.config import PRESETS, DualCodecConfig, get_config
from dualtts.codec.model import DualCodec
from dualtts.codec.tokenizer import EncodecTokenizer, MimiTokenizer, Tokenizer, load_tokenizer

__all__ = ["DualCodec", "DualCodecConfig", "PRESETS", "get_config", "Tokenizer", "MimiTokenizer", "EncodecTokenizer", "load_tokenizer",
           "encode_chunked", "decode_chunked"]

"""DualTTS lm stage (see DESIGN.md); arrives with its issue."""

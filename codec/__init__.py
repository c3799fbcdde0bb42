"""DualTTS codec stage (see DESIGN.md); arrives with its issue."""

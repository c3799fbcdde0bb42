"""DualTTS flow stage (see DESIGN.md); arrives with its issue."""

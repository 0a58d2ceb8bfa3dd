"""Training-pair generation (TTS->ASR, handwriting->HTR, error simulator). See issue 3."""

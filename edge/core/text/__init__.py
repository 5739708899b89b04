"""Text helpers shared by the intent model, the skills and the dialogue: number words, normalisation."""

"""Text to speech: the Piper voice, sentence-by-sentence streaming, and the one chunker that cuts
replies and streamed LLM answers into pieces worth speaking."""

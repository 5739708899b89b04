"""The large-model tiers: the OpenAI-compatible streaming client (cloud), its SSE decoder, circuit
breaker and errors, and the supervised llama.cpp server (offline)."""

"""Device profiles (profiles/*.toml), board detection, onnxruntime provider choice, and the
per-stage device benchmark (`edge devices`, `edge devices bench`). See profiles/README.md."""

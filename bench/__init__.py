"""AskCall's benchmark suite: AskCall and its floors measured in one run (`python -m bench`)."""

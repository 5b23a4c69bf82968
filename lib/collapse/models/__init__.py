"""Models and data: the image DDPM, language models, and the offline data loaders."""

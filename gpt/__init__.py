"""gpt: the decoder-only Transformer, the char-level baselines, training, checkpoints and sampling."""

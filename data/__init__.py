"""The small texts gptkit ships as its embedded defaults, installed as the package `gptkit_data`.

They live in the clone's data/ folder (so `--input data/names.txt` works there) and travel
inside the wheel as package data, so the no-argument demos work after a plain `pip install .`
from any directory. Code finds them through gptkit_base.texts, which works in a clone that
was never installed too:

    names.txt            32,033 first names, one per line: makemore's data (train-char, baselines)
    tinyshakespeare.txt  Tiny Shakespeare, 1.1 MB: nanoGPT's character-level corpus (train-gpt)
    taylorswift.txt      a Wikipedia article, 186 KB: the text minbpe trains its tokenizers on
"""

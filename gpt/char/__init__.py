"""makemore's character-level lab: next-character models trained, compared and sampled on one example per line.

Andrej Karpathy's makemore lectures build, on names.txt, a ladder of models that each
predict the next character from the ones before it: the bigram count table, the same
bigram as a one-layer net, an MLP (Bengio et al. 2003), the MLP with BatchNorm, a
WaveNet-style tree, and a Transformer (here gpt/model.py's GPT). The lab adds modified
Kneser-Ney n-grams and an ensemble that mixes finished runs. Every model trains and is
evaluated on the same 80/10/10 split (train / val / test; the lectures call val "dev")
and reports its NLL in nats per character.

    data       line datasets (one example per line, a boundary token) and text streams, their rows
    models     the models and REGISTRY, the one place that lists them (recipes, how each is built and trained)
    train      CharConfig, char_config, train_char: the one training loop, evaluation, the run directory
    sample     sampling, the bigram counts exactly as the lecture's loop draws them
    plots      the lectures' plots of a run (counts, loss, embeddings, activations, update ratios)
    baselines  every model with its recipe, side by side, in one table

The CLI's train-char, baselines and generate commands call these.
"""

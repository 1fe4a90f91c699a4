"""One module per torch.optim algorithm; see each module's docstring for its update rule."""

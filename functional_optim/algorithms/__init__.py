"""One module per torch.optim algorithm; each public function's docstring gives its update rule."""

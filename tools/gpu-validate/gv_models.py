"""The models and synthetic data the GPU validation jobs train and serve.

torch is passed in (or imported inside functions) so that this module, like
gv_common, can be imported without torch for argument checks.

Synthetic data is made learnable on purpose: a loss that falls shows the
training under the shim really computes (random labels would only show that
it runs).
"""

RESNET_CLASSES = 10
LM_VOCAB = 4096
LM_STEP = (5, 17)  # next token = (5 * token + 17) mod vocab: a bijection a small model learns fast


def resnet50(torch):
    import torchvision

    model = torchvision.models.resnet50(weights=None, num_classes=RESNET_CLASSES)
    return model.cuda().to(memory_format=torch.channels_last)


class ImageBatches:
    """A pool of fixed batches in pinned host memory, copied to the GPU each step
    the way a data loader hands over a batch. Each class adds its own colour to
    every pixel, so a network separates them within a few dozen steps."""

    def __init__(self, torch, batch, image=224, pool=4, seed=0):
        g = torch.Generator().manual_seed(seed)
        colours = torch.randn(RESNET_CLASSES, 3, 1, 1, generator=g)
        self.host = []
        for _ in range(pool):
            y = torch.randint(0, RESNET_CLASSES, (batch,), generator=g)
            x = torch.randn(batch, 3, image, image, generator=g) + colours[y]
            self.host.append((x.contiguous(memory_format=torch.channels_last).pin_memory(), y.pin_memory()))
        self.x = torch.empty_like(self.host[0][0], device="cuda")
        self.y = torch.empty_like(self.host[0][1], device="cuda")

    def next(self, step):
        x, y = self.host[step % len(self.host)]
        self.x.copy_(x, non_blocking=True)
        self.y.copy_(y, non_blocking=True)
        return self.x, self.y


def tiny_lm(torch, d_model=512, heads=8, layers=6, seq=256):
    """A small decoder-style Transformer: embedding, causal TransformerEncoder, output head."""
    nn = torch.nn

    class TinyLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(LM_VOCAB, d_model)
            self.pos = nn.Parameter(torch.zeros(1, seq, d_model))
            layer = nn.TransformerEncoderLayer(d_model, heads, 4 * d_model, dropout=0.0, batch_first=True,
                                               norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
            self.head = nn.Linear(d_model, LM_VOCAB)
            # Additive causal mask (-inf above the diagonal), built by hand: the
            # helper for it changed signature across PyTorch versions.
            self.register_buffer("mask", torch.triu(torch.full((seq, seq), float("-inf")), diagonal=1))

        def forward(self, tokens):
            n = tokens.shape[1]
            h = self.embed(tokens) + self.pos[:, :n]
            h = self.encoder(h, mask=self.mask[:n, :n])
            return self.head(h)

    return TinyLM().cuda()


class TokenBatches:
    """Sequences that follow LM_STEP from a random first token; input is the
    sequence, target the same shifted by one."""

    def __init__(self, torch, batch, seq=256, pool=8, seed=0):
        g = torch.Generator().manual_seed(seed)
        a, b = LM_STEP
        self.host = []
        for _ in range(pool):
            t = torch.empty(batch, seq + 1, dtype=torch.long)
            t[:, 0] = torch.randint(0, LM_VOCAB, (batch,), generator=g)
            for i in range(seq):
                t[:, i + 1] = (a * t[:, i] + b) % LM_VOCAB
            self.host.append(t.pin_memory())
        self.t = torch.empty_like(self.host[0], device="cuda")

    def next(self, step):
        self.t.copy_(self.host[step % len(self.host)], non_blocking=True)
        return self.t[:, :-1], self.t[:, 1:]


class Trainer:
    """One model, its data and optimiser; step() runs one training step under
    bf16 autocast (no gradient scaler needed for bf16) and returns the loss
    tensor (not synchronised: the caller decides when to wait)."""

    def __init__(self, torch, model_name, batch, seed=0):
        self.torch = torch
        self.name = model_name
        torch.manual_seed(seed)
        if model_name == "resnet50":
            self.model = resnet50(torch)
            self.data = ImageBatches(torch, batch, seed=seed)
            self.opt = torch.optim.SGD(self.model.parameters(), lr=0.02, momentum=0.9)
        elif model_name == "transformer":
            self.model = tiny_lm(torch)
            self.data = TokenBatches(torch, batch, seed=seed)
            self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-3)
        else:
            raise ValueError(f"unknown model {model_name!r}")
        self.model.train()
        self.loss_fn = torch.nn.CrossEntropyLoss()

    def step(self, i):
        torch = self.torch
        x, y = self.data.next(i)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
            out = self.model(x)
            if self.name == "transformer":
                loss = self.loss_fn(out.float().reshape(-1, LM_VOCAB), y.reshape(-1))
            else:
                loss = self.loss_fn(out.float(), y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss


def default_batch(model_name):
    # A few GiB of activations each under bf16 autocast: modest, and big enough
    # that the GPU, not Python, sets the pace on an H100/H200.
    return {"resnet50": 32, "transformer": 32}[model_name]

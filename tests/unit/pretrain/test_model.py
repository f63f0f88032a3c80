import pytest
import torch

from hagane.pretrain.model import ModelArgs, Transformer

ARGS = ModelArgs(vocab_size=97, dim=32, n_layers=2, n_heads=4, n_kv_heads=2, ffn_dim=64, max_seq_len=16)


def test_shapes_and_parameter_count():
    model = Transformer(ARGS)
    assert model(torch.randint(0, 97, (3, 16))).shape == (3, 16, 97)
    per_layer = 32 * 32 + 2 * 32 * 16 + 32 * 32 + 3 * 32 * 64 + 2 * 32
    assert model.num_parameters() == 97 * 32 + 2 * per_layer + 32  # tied output
    assert model.output.weight is model.tok_embeddings.weight


def test_attention_is_causal():
    torch.manual_seed(0)
    model = Transformer(ARGS).eval()
    x = torch.randint(0, 97, (1, 12))
    y = x.clone()
    y[0, 8:] = (y[0, 8:] + 1) % 97
    with torch.no_grad():
        a, b = model(x), model(y)
    assert torch.equal(a[0, :8], b[0, :8]) and not torch.allclose(a[0, 8:], b[0, 8:])


def test_same_seed_same_weights():
    torch.manual_seed(5)
    a = Transformer(ARGS).state_dict()
    torch.manual_seed(5)
    b = Transformer(ARGS).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_chunked_linear_cross_entropy_equals_the_plain_one():
    from hagane.pretrain.loss import LinearCrossEntropy

    torch.manual_seed(1)
    h = torch.randn(70, 16, dtype=torch.float64, requires_grad=True)
    w = torch.randn(50, 16, dtype=torch.float64, requires_grad=True)
    t = torch.randint(0, 50, (70,))
    expected = torch.nn.functional.cross_entropy(h @ w.T, t)
    gh, gw = torch.autograd.grad(expected * 3, (h, w))
    loss = LinearCrossEntropy.apply(h, w, t, 32)  # three chunks, the last one short
    ch, cw = torch.autograd.grad(loss * 3, (h, w))
    assert torch.allclose(loss, expected, rtol=1e-12)
    assert torch.allclose(ch, gh, rtol=1e-10, atol=1e-14) and torch.allclose(cw, gw, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("mode", ["bf16 weights", "autocast"])
def test_chunked_linear_cross_entropy_in_bf16_stays_near_fp64(mode):
    """The two ways training runs in bf16: FSDP2 casting the weights, autocast around fp32 weights."""
    from hagane.pretrain.loss import LinearCrossEntropy

    torch.manual_seed(3)
    h64, w64 = torch.randn(300, 64, dtype=torch.float64), torch.randn(500, 64, dtype=torch.float64) * 0.1
    t = torch.randint(0, 500, (300,))
    h, w = (x.detach().clone().requires_grad_() for x in (h64, w64))
    expected = torch.nn.functional.cross_entropy(h @ w.T, t)
    gh, gw = torch.autograd.grad(expected, (h, w))
    dtype = torch.bfloat16 if mode == "bf16 weights" else torch.float32
    h, w = (x.detach().to(dtype).requires_grad_() for x in (h64, w64))
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode == "autocast"):
        loss = LinearCrossEntropy.apply(h, w, t, 128)
    ch, cw = torch.autograd.grad(loss, (h, w))
    assert cw.dtype == dtype and ch.dtype == dtype

    def rel(a, b):
        return ((a.double() - b).norm() / b.norm()).item()

    assert rel(loss, expected) < 1e-2 and rel(ch, gh) < 2e-2 and rel(cw, gw) < 2e-2


def test_training_forward_gives_the_loss_of_the_logits():
    torch.manual_seed(2)
    model = Transformer(ARGS)
    x, y = torch.randint(0, 97, (2, 16)), torch.randint(0, 97, (2, 16))
    plain = torch.nn.functional.cross_entropy(model(x).reshape(-1, 97), y.reshape(-1))
    assert torch.allclose(model(x, y), plain, rtol=1e-6)

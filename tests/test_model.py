import pytest
import torch
from torch import nn

from companion.model import (HandRNN, ModelConfig, RNNCell, SimpleRnnlm, copy_rnn_weights,
                             count_parameters, detach_state)

B, T, E, H, V = 3, 7, 5, 4, 11  # E: input (word-vector) size


def test_cell_is_the_formula():
    torch.manual_seed(0)
    cell = RNNCell(E, H)
    x, h = torch.randn(B, E), torch.randn(B, H)
    expected = torch.tanh(x @ cell.W_xh.T + h @ cell.W_hh.T + cell.b)
    assert torch.equal(cell(x, h), expected)


@pytest.mark.parametrize("direction", ["hand_to_torch", "torch_to_hand"])
def test_hand_rnn_matches_torch_rnn_outputs_and_gradients(direction):
    torch.manual_seed(0)
    hand, ref = HandRNN(E, H), nn.RNN(E, H, batch_first=True)
    if direction == "hand_to_torch":
        copy_rnn_weights(hand, ref)
    else:
        copy_rnn_weights(ref, hand)
    x, h0 = torch.randn(B, T, E), torch.randn(1, B, H)
    out_h, hn_h = hand(x, h0)
    out_r, hn_r = ref(x, h0)
    torch.testing.assert_close(out_h, out_r, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(hn_h, hn_r, atol=1e-5, rtol=1e-5)
    assert torch.equal(out_h[:, -1], hn_h[0])
    (out_h.square().sum() + hn_h.sum()).backward()
    (out_r.square().sum() + hn_r.sum()).backward()
    cell = hand.cell
    torch.testing.assert_close(cell.W_xh.grad, ref.weight_ih_l0.grad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(cell.W_hh.grad, ref.weight_hh_l0.grad, atol=1e-5, rtol=1e-5)
    # each of nn.RNN's two biases receives the gradient of their sum
    torch.testing.assert_close(cell.b.grad, ref.bias_ih_l0.grad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(cell.b.grad, ref.bias_hh_l0.grad, atol=1e-5, rtol=1e-5)


def test_lm_with_hand_cell_matches_lm_with_torch_rnn():
    torch.manual_seed(0)
    hand = SimpleRnnlm(ModelConfig(V, E, H, cell="hand"))
    ref = SimpleRnnlm(ModelConfig(V, E, H, cell="torch"))
    ref.embedding.load_state_dict(hand.embedding.state_dict())
    ref.affine.load_state_dict(hand.affine.state_dict())
    copy_rnn_weights(hand.rnn, ref.rnn)
    x = torch.randint(0, V, (B, T))
    logits_h, state_h = hand(x)
    logits_r, state_r = ref(x)
    assert logits_h.shape == (B, T, V) and state_h.shape == (1, B, H)
    torch.testing.assert_close(logits_h, logits_r, atol=1e-5, rtol=1e-5)
    logits_h.logsumexp(-1).sum().backward()
    logits_r.logsumexp(-1).sum().backward()
    torch.testing.assert_close(hand.embedding.weight.grad, ref.embedding.weight.grad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(hand.rnn.cell.W_hh.grad, ref.rnn.weight_hh_l0.grad, atol=1e-5, rtol=1e-5)


def test_state_carries_memory_across_calls():
    torch.manual_seed(0)
    model = SimpleRnnlm(ModelConfig(V, E, H, num_layers=2))
    x = torch.randint(0, V, (B, 2 * T))
    whole, _ = model(x)
    first, state = model(x[:, :T])
    second, _ = model(x[:, T:], detach_state(state))
    torch.testing.assert_close(torch.cat([first, second], 1), whole)
    assert model.init_state(B).shape == (2, B, H)


def test_weight_tying_shares_one_matrix():
    model = SimpleRnnlm(ModelConfig(V, H, H, tie_weights=True))
    assert model.affine.weight is model.embedding.weight
    assert count_parameters(model) == count_parameters(SimpleRnnlm(ModelConfig(V, H, H))) - V * H


def test_bad_configs_and_inputs_are_explained():
    with pytest.raises(ValueError, match="vocab_size"):
        ModelConfig(0)
    with pytest.raises(ValueError, match="tie_weights"):
        ModelConfig(V, 10, 20, tie_weights=True)
    with pytest.raises(ValueError, match="cell"):
        ModelConfig(V, cell="lstm")
    with pytest.raises(ValueError, match="num_layers"):
        ModelConfig(V, num_layers=2, cell="hand")
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        SimpleRnnlm(ModelConfig(V, E, H))(torch.zeros(B, T))
    with pytest.raises(TypeError, match="copy_rnn_weights"):
        copy_rnn_weights(nn.Linear(2, 2), nn.RNN(2, 2))
    with pytest.raises(ValueError, match="sizes differ"):
        copy_rnn_weights(HandRNN(E, H), nn.RNN(E, H + 1))

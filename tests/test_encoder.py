import pytest
import torch

from nmt.models.encoder import Encoder, reverse_padded


def make_encoder(cell: str = "lstm", bidirectional: bool = True, reverse: bool = False) -> Encoder:
    torch.manual_seed(0)
    encoder = Encoder(
        cell=cell,
        vocab=20,
        embed_dim=8,
        hidden=6,
        layers=2,
        bidirectional=bidirectional,
        reverse_source=reverse,
        dropout=0.3,
    )
    return encoder.eval()


def test_reverse_padded_reverses_real_tokens_only_and_undoes_itself():
    x = torch.tensor([[5, 6, 7, 3], [8, 3, 0, 0]])
    lengths = torch.tensor([4, 2])
    reversed_x = reverse_padded(x, lengths)
    assert reversed_x.tolist() == [[3, 7, 6, 5], [3, 8, 0, 0]]
    assert torch.equal(reverse_padded(reversed_x, lengths), x)
    features = torch.randn(2, 4, 3)
    assert torch.equal(reverse_padded(features, lengths)[1, 0], features[1, 1])
    assert torch.equal(reverse_padded(features, lengths)[1, 2:], features[1, 2:])


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("reverse", [True, False])
def test_padding_never_changes_the_encoding(cell, bidirectional, reverse):
    encoder = make_encoder(cell, bidirectional, reverse)
    alone = torch.tensor([[4, 5, 6, 3]])
    batch = torch.tensor([[7, 8, 9, 10, 11, 12, 3], [4, 5, 6, 3, 0, 0, 0]])
    memory_alone, final_alone = encoder(alone, torch.tensor([4]))
    memory, final = encoder(batch, torch.tensor([7, 4]))
    assert memory.shape == (2, 7, encoder.output_dim)
    torch.testing.assert_close(memory[1, :4], memory_alone[0], atol=1e-6, rtol=1e-5)
    assert torch.count_nonzero(memory[1, 4:]) == 0
    for state, state_alone in zip(final, final_alone, strict=True):
        torch.testing.assert_close(state[:, 1], state_alone[:, 0], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("bidirectional", [True, False])
def test_reverse_source_equals_encoding_the_reversed_sentence(bidirectional):
    encoder = make_encoder("lstm", bidirectional, reverse=True)
    src = torch.tensor([[4, 5, 6, 7, 3], [8, 9, 3, 0, 0]])
    lengths = torch.tensor([5, 3])
    memory, final = encoder(src, lengths)
    encoder.reverse_source = False
    plain_memory, plain_final = encoder(reverse_padded(src, lengths), lengths)
    # memory is returned in the original source order, so position j is token j
    torch.testing.assert_close(memory, reverse_padded(plain_memory, lengths))
    for state, plain in zip(final, plain_final, strict=True):
        torch.testing.assert_close(state, plain)
    unreversed, _ = encoder(src, lengths)
    assert not torch.allclose(unreversed[0], memory[0])

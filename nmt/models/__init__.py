"""The architectures: encoder, attention, decoder, the Transformer, an exported model."""

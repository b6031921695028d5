"""BLEU, chrF and TER, by source length, and the plots that draw them."""

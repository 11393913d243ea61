"""Text generation on KNBC: keywords → sentence and continuation (Seq2Seq), and an LSTM language model."""

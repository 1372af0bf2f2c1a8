"""Recurrent and convolutional window models: LSTM, TCN, TimesNet."""

"""Classical (linear) models behind the common model contract."""

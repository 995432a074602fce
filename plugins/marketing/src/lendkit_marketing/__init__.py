"""lendkit-marketing: coupons and welcome offers."""

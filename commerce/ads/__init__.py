"""Online ads and in-store purchases: ad clicks, offline-conversion and audience exports, the omnichannel report."""

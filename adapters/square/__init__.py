"""The Square adapter: Square POS sales, returns and counts in; our counts out."""

from commerce.cli import main

main()

from commentfeed.cli import main

main()

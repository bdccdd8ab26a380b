from search.workers._worker import main

main()

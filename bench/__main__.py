from bench.sign_in import main

main()

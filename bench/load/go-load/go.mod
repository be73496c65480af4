module tlsotel.bench/go-load

go 1.19

package main

import (
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

func main() { fmt.Println(pgx.TextFormatCode, pgxpool.Config{}) }

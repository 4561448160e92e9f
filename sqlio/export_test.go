package sqlio

// For the tests of package sqlio_test (which run the openstage command).
var (
	PgDSN    = pgDSN
	NeedPG   = needPG
	PgExec   = pgExec
	PgTable  = pgTable
	Psql     = psql
	MySQLDSN = mysqlDSN
	NeedMy   = needMySQL
)

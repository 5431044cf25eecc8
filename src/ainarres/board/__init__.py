"""The board: PostgreSQL connection, migrations, verbs and reads. The only psycopg importer."""

-- PostGraphile's sign-in for the `login` workload of the side-by-side benchmark (v4 and v5),
-- applied to the bench database only by bench/dataset.py when the server has pgcrypto; it is
-- idempotent. `@pgcrypto@` is replaced by the schema pgcrypto's functions live in.
--
-- Quintet's `login` verifies an argon2 hash (argon2-cffi's defaults: time cost 3, 64 MiB, 4 lanes),
-- which Postgres cannot compute. The peer's equivalent verifies a bcrypt hash with pgcrypto's
-- crypt(), at the cost bench/dataset.py chooses (BCRYPT_COST: about as long per verify as
-- argon2's CPU time; the run header prints both, measured). The hashes live in a table of the
-- `bench_pg` schema, which PostGraphile does not expose; `authenticate` is VOLATILE, so
-- PostGraphile makes it a mutation: `authenticate(input: {email, password}) { user { ... } }`,
-- null unless the password matches. No token is signed (PostGraphile runs without JWT here);
-- Quintet also signs an ES256 access token and stores a refresh token.

CREATE SCHEMA IF NOT EXISTS bench_pg;

CREATE TABLE IF NOT EXISTS bench_pg.credentials (
  user_id uuid PRIMARY KEY REFERENCES public.users (id) ON DELETE CASCADE,
  password_hash text NOT NULL
);

CREATE OR REPLACE FUNCTION public.authenticate(email text, password text)
RETURNS public.users LANGUAGE sql VOLATILE STRICT AS $$
  SELECT u.*
  FROM public.users u
  JOIN bench_pg.credentials c ON c.user_id = u.id
  WHERE lower(u.email) = lower(authenticate.email)
    AND c.password_hash = @pgcrypto@.crypt(authenticate.password, c.password_hash)
$$;

COMMENT ON FUNCTION public.authenticate(text, text) IS
  'Sign in: the account with this email whose bcrypt hash the password matches; null otherwise.';

-- The roles Airlock logs in with during the tour (docs/tour.md): the Secrets orders-airlock and
-- features-airlock hold these names and passwords. Least privilege at the database too: the policies
-- decide per identity, these grants bound what any policy could reach.
CREATE ROLE airlock_app LOGIN PASSWORD 'tour-orders-pw';
CREATE ROLE trainer_ro LOGIN PASSWORD 'tour-features-pw';
\connect orders
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO airlock_app;
\connect features
GRANT USAGE ON SCHEMA features TO trainer_ro;
GRANT SELECT ON ALL TABLES IN SCHEMA features TO trainer_ro;
GRANT INSERT ON features.model_runs TO trainer_ro;

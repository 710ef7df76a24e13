-- The items table the default configuration serves.
CREATE TABLE IF NOT EXISTS items (
    id     serial PRIMARY KEY,
    name   text NOT NULL UNIQUE,
    price  numeric(10, 2) NOT NULL CHECK (price >= 0),
    owner  text
);
INSERT INTO items (name, price, owner) VALUES
    ('water', 1.50, 'alice'),
    ('bread', 2.25, 'alice'),
    ('cheese', 7.00, 'bob')
ON CONFLICT (name) DO NOTHING;

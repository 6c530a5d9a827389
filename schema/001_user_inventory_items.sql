-- The CardTrader inventory target. One row per (user, blueprint, seller product id).
CREATE TABLE IF NOT EXISTS user_inventory_items (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id           uuid        NOT NULL,
  blueprint_id      integer     NOT NULL,
  external_stock_id varchar(64) NOT NULL,
  print_id          integer,
  print_table       text,
  name_en           text,
  quantity          integer     NOT NULL CHECK (quantity >= 0),
  price_cents       integer     NOT NULL CHECK (price_cents >= 0),
  price_currency    text,
  properties        jsonb       NOT NULL DEFAULT '{}'::jsonb,
  description       text,
  user_data_field   text,
  graded            boolean,
  tag               text,
  game_id           integer,
  expansion_code    text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  -- moves only when a compared column changed (the merge never rewrites unchanged rows)
  updated_at        timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT user_inventory_items_user_blueprint_stock_key UNIQUE (user_id, blueprint_id, external_stock_id)
);

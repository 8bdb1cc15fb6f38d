-- When the customer's saved card (payment_method_ref) was saved, shown with
-- it (GetCustomerPaymentMethod): set when the reference changes to another
-- one, cleared with it. A card saved before this column existed takes the
-- record's last change, the nearest time known.
alter table customers add column payment_method_saved_at timestamptz;
update customers set payment_method_saved_at = updated_at where payment_method_ref <> '';

DROP TABLE spent_sign_in_steps;

output "user_pool_id" {
  description = "Id of the user pool (`AIRFLOW_COGNITO_USER_POOL_ID`)."
  value       = aws_cognito_user_pool.this.id
}

output "user_pool_arn" {
  description = "ARN of the user pool."
  value       = aws_cognito_user_pool.this.arn
}

output "client_id" {
  description = "Id of the Airflow app client (not secret; the secret is only in Secrets Manager)."
  value       = aws_cognito_user_pool_client.airflow.id
}

output "domain" {
  description = "Host name of the Cognito hosted domain, `<domain_prefix>.auth.<region>.amazoncognito.com`."
  value       = "${aws_cognito_user_pool_domain.this.domain}.auth.${local.region}.amazoncognito.com"
}

output "issuer_url" {
  description = "OpenID Connect issuer of the user pool; its `/.well-known/openid-configuration` lists the endpoints and keys."
  value       = "https://cognito-idp.${local.region}.amazonaws.com/${aws_cognito_user_pool.this.id}"
}

output "callback_url" {
  description = "OAuth callback URL registered on the app client."
  value       = local.callback_url
}

output "secret_arn" {
  description = "ARN of the Secrets Manager secret holding `client_id`, `client_secret` and `user_pool_id`."
  value       = aws_secretsmanager_secret.client.arn
}

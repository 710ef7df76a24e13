output "api_url" {
  description = "The HTTP API's base URL (stage $default)."
  value       = aws_apigatewayv2_stage.default.invoke_url
}

output "function_name" {
  description = "The Lambda function."
  value       = aws_lambda_function.ember.function_name
}

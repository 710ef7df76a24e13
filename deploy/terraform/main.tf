# ember on Lambda (provided.al2023) behind an API Gateway HTTP API: the same
# deployment as deploy/template.yaml, from the function.zip that `make zip` built.

terraform {
  required_version = ">= 1.3"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

provider "aws" {
  region = var.region
}

locals {
  zip_path = abspath(startswith(var.zip_path, "/") ? var.zip_path : "${path.module}/${var.zip_path}")
  in_vpc   = length(var.subnet_ids) > 0
  # One route per route of conf/ember.conf.
  routes = [
    "GET /hello",
    "GET /items/{id}",
    "GET /items",
    "POST /items",
    "GET /me/items",
  ]
}

resource "aws_iam_role" "ember" {
  name_prefix = "${var.function_name}-"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy_attachment" "logs" {
  role       = aws_iam_role.ember.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
}

resource "aws_iam_role_policy_attachment" "vpc" {
  count      = local.in_vpc ? 1 : 0
  role       = aws_iam_role.ember.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

# IAM database authentication: connect as var.db_iam_user with the role's own credentials.
resource "aws_iam_role_policy" "rds_connect" {
  count = var.db_iam_resource_id != "" ? 1 : 0
  name  = "rds-db-connect"
  role  = aws_iam_role.ember.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = "rds-db:connect"
      Resource = "arn:${data.aws_partition.current.partition}:rds-db:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:dbuser:${var.db_iam_resource_id}/${var.db_iam_user}"
    }]
  })
}

# Secrets: read var.db_secret_arn (through the Parameters and Secrets extension).
resource "aws_iam_role_policy" "secret_read" {
  count = var.db_secret_arn != "" ? 1 : 0
  name  = "db-secret-read"
  role  = aws_iam_role.ember.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = "secretsmanager:GetSecretValue"
      Resource = var.db_secret_arn
    }]
  })
}

resource "aws_cloudwatch_log_group" "ember" {
  name              = "/aws/lambda/${var.function_name}"
  retention_in_days = 14
}

resource "aws_lambda_function" "ember" {
  function_name    = var.function_name
  role             = aws_iam_role.ember.arn
  filename         = local.zip_path
  source_code_hash = filebase64sha256(local.zip_path)
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = [var.architecture]
  memory_size      = var.memory_size
  timeout          = 10
  layers           = var.secrets_extension_layer_arn != "" ? [var.secrets_extension_layer_arn] : []

  environment {
    variables = {
      JWT_SECRET   = var.jwt_secret
      DATABASE_URL = var.database_url
    }
  }

  dynamic "vpc_config" {
    for_each = local.in_vpc ? [1] : []
    content {
      subnet_ids         = var.subnet_ids
      security_group_ids = var.security_group_ids
    }
  }

  depends_on = [
    aws_iam_role_policy_attachment.logs,
    aws_iam_role_policy_attachment.vpc,
    aws_cloudwatch_log_group.ember,
  ]
}

resource "aws_apigatewayv2_api" "ember" {
  name          = var.function_name
  protocol_type = "HTTP"
}

resource "aws_apigatewayv2_integration" "ember" {
  api_id                 = aws_apigatewayv2_api.ember.id
  integration_type       = "AWS_PROXY"
  integration_uri        = aws_lambda_function.ember.invoke_arn
  payload_format_version = "2.0"
}

resource "aws_apigatewayv2_route" "ember" {
  for_each  = toset(local.routes)
  api_id    = aws_apigatewayv2_api.ember.id
  route_key = each.value
  target    = "integrations/${aws_apigatewayv2_integration.ember.id}"
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.ember.id
  name        = "$default"
  auto_deploy = true
}

resource "aws_lambda_permission" "api" {
  statement_id  = "AllowHttpApiInvoke"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.ember.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.ember.execution_arn}/*/*"
}

# Inputs of the ember Terraform example (deploy/README.md, "Deploy with Terraform").

variable "region" {
  description = "AWS region; null takes the provider's default (AWS_REGION / the CLI profile)."
  type        = string
  default     = null
}

variable "function_name" {
  description = "Name of the Lambda function, its log group and the HTTP API."
  type        = string
  default     = "ember"
}

variable "architecture" {
  description = "x86_64 or arm64: must match the build that made the ZIP (configure --host=aarch64-linux-gnu for arm64)."
  type        = string
  default     = "x86_64"
  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "zip_path" {
  description = "The ZIP `make zip` wrote; relative paths are relative to this directory."
  type        = string
  default     = "../../_build-lambda/function.zip"
}

variable "memory_size" {
  description = "Memory in MB (CPU scales with it)."
  type        = number
  default     = 512
}

variable "jwt_secret" {
  description = "The HS256 secret the auth plugin verifies tokens with (env JWT_SECRET)."
  type        = string
  sensitive   = true
}

variable "database_url" {
  description = "libpq URI of the PostgreSQL database holding conf/items.sql's table (env DATABASE_URL)."
  type        = string
  sensitive   = true
}

variable "db_iam_resource_id" {
  description = "IAM database authentication (conf/rds-iam.conf): the DB instance's or RDS Proxy's resource id (db-..., prx-...); the function may rds-db:connect as db_iam_user. Empty: no IAM policy."
  type        = string
  default     = ""
}

variable "db_iam_user" {
  description = "The database user the IAM token is signed for (db's `user`)."
  type        = string
  default     = "ember_iam"
}

variable "db_secret_arn" {
  description = "url_secret/password_secret: the Secrets Manager secret the function may read. Empty: none."
  type        = string
  default     = ""
}

variable "secrets_extension_layer_arn" {
  description = "The AWS Parameters and Secrets Lambda Extension layer for this region and architecture (deploy/README.md). Needed with db_secret_arn."
  type        = string
  default     = ""
}

variable "subnet_ids" {
  description = "Subnets to run the function in when the database is in a VPC; empty: no VPC."
  type        = list(string)
  default     = []
}

variable "security_group_ids" {
  description = "Security groups for the function in that VPC."
  type        = list(string)
  default     = []
}

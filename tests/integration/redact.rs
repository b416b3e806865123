//! SPEC §1.7: secrets are redacted before anything is sent to a model, and
//! nothing that is not a secret is touched.

use stepguard::redact::{redact, Finding, Redacted};

/// One secret-bearing input.
struct Case {
    name: &'static str,
    input: &'static str,
    /// Substrings that must not survive.
    gone: &'static [&'static str],
    /// Kinds that must be recorded.
    kinds: &'static [&'static str],
    /// Substrings that must survive (key names, structure).
    kept: &'static [&'static str],
}

const SECRETS: &[Case] = &[
    Case {
        name: "aws access key id",
        input: "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
        gone: &["AKIAIOSFODNN7EXAMPLE"],
        kinds: &["aws-access-key"],
        kept: &["aws_access_key_id = [REDACTED:aws-access-key]"],
    },
    Case {
        name: "aws temporary key id in a log line",
        input: "assumed role ops-admin with key ASIAY34FZKBOKMUTVV7A until 12:00",
        gone: &["ASIAY34FZKBOKMUTVV7A"],
        kinds: &["aws-access-key"],
        kept: &["assumed role ops-admin with key ", " until 12:00"],
    },
    Case {
        name: "aws credentials file",
        input: "[prod]\naws_access_key_id = AKIAI44QH8DHBEXAMPLE\naws_secret_access_key = je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY\nregion = eu-west-1\n",
        gone: &["AKIAI44QH8DHBEXAMPLE", "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"],
        kinds: &["aws-access-key", "aws-secret-key"],
        kept: &["[prod]\n", "aws_secret_access_key = [REDACTED:aws-secret-key]", "region = eu-west-1"],
    },
    Case {
        name: "aws secret in an export",
        input: "export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        gone: &["wJalrXUtnFEMI"],
        kinds: &["aws-secret-key"],
        kept: &["export AWS_SECRET_ACCESS_KEY="],
    },
    Case {
        name: "aws sts json",
        input: r#"{"Credentials": {"AccessKeyId": "ASIAY34FZKBOKMUTVV7A", "SecretAccessKey": "9drTJvcXLB89EXAMPLELB8923FB892xMFI", "SessionToken": "IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJH"}}"#,
        gone: &["ASIAY34FZKBOKMUTVV7A", "9drTJvcXLB89EXAMPLELB8923FB892xMFI", "IQoJb3JpZ2luX2VjEXAMPLE"],
        kinds: &["aws-access-key", "aws-secret-key", "token"],
        kept: &[r#""SessionToken": "[REDACTED:token]""#, r#""SecretAccessKey": "#],
    },
    Case {
        name: "authorization bearer header",
        input: "Authorization: Bearer abc.def-ghi_123",
        gone: &["abc.def-ghi_123"],
        kinds: &["bearer-token"],
        kept: &["Authorization: Bearer [REDACTED:bearer-token]"],
    },
    Case {
        name: "authorization basic header",
        input: "authorization: Basic dXNlcjpodW50ZXIy",
        gone: &["dXNlcjpodW50ZXIy"],
        kinds: &["basic-auth"],
        kept: &["authorization: Basic [REDACTED:basic-auth]"],
    },
    Case {
        name: "bare bearer token",
        input: "retrying with Bearer 9f8e7d6c5b4a3f2e1d0c after 401",
        gone: &["9f8e7d6c5b4a3f2e1d0c"],
        kinds: &["bearer-token"],
        kept: &["retrying with Bearer ", " after 401"],
    },
    Case {
        name: "other authorization scheme",
        input: "  \"Authorization\": \"token 0123456789abcdef0123\",",
        gone: &["0123456789abcdef0123"],
        kinds: &["auth-header"],
        kept: &["\"Authorization\": \"token [REDACTED:auth-header]\","],
    },
    Case {
        name: "jwt",
        input: "token issued: eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U (exp 3600)",
        gone: &["eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9", "dozjgNryP4J3jVmNHl0w5N"],
        kinds: &["jwt"],
        kept: &["token issued: [REDACTED:jwt] (exp 3600)"],
    },
    Case {
        name: "pem private key block",
        input: "key file:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\nVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n-----END RSA PRIVATE KEY-----\nend of file\n",
        gone: &["MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun", "VTLw7onLRnrq0", "BEGIN RSA PRIVATE KEY"],
        kinds: &["private-key"],
        kept: &["key file:\n[REDACTED:private-key]\nend of file\n"],
    },
    Case {
        name: "truncated openssh private key",
        input: "$ cat ~/.ssh/id_ed25519\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\nQyNTUxOQAAACDzMbV2nW9yL\n$ ls\n",
        gone: &["b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ", "QyNTUxOQAAACDzMbV2nW9yL"],
        kinds: &["private-key"],
        kept: &["$ cat ~/.ssh/id_ed25519\n[REDACTED:private-key]\n$ ls\n"],
    },
    Case {
        name: "gcp service account json",
        input: include_str!("../redact/gcp_service_account.json"),
        gone: &["MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7", "q9nT0pLm"],
        kinds: &["private-key"],
        kept: &[r#""private_key": "[REDACTED:private-key]\n","#, "deployer@payments-prod.iam.gserviceaccount.com"],
    },
    Case {
        name: "postgres url",
        input: "DATABASE_URL=postgres://app:s3cr3t@db.internal:5432/orders?sslmode=require",
        gone: &["s3cr3t"],
        kinds: &["url-password"],
        kept: &["postgres://app:[REDACTED:url-password]@db.internal:5432/orders?sslmode=require"],
    },
    Case {
        name: "redis url without user",
        input: "connecting to redis://:r3d1sPass@cache-0.cache:6379/0 failed",
        gone: &["r3d1sPass"],
        kinds: &["url-password"],
        kept: &["redis://:[REDACTED:url-password]@cache-0.cache:6379/0 failed"],
    },
    Case {
        name: "https url with credentials",
        input: "git remote: https://u:p4ss@h.example.com/x.git",
        gone: &["p4ss"],
        kinds: &["url-password"],
        kept: &["https://u:[REDACTED:url-password]@h.example.com/x.git"],
    },
    Case {
        name: "env assignment",
        input: "DB_PASSWORD=hunter2 ./migrate --dry-run",
        gone: &["hunter2"],
        kinds: &["password"],
        kept: &["DB_PASSWORD=[REDACTED:password] ./migrate --dry-run"],
    },
    Case {
        name: "yaml password",
        input: "database:\n  host: db.internal\n  password: hunter2 # rotate me\n  port: 5432\n",
        gone: &["hunter2", "rotate me"],
        kinds: &["password"],
        kept: &["  password: [REDACTED:password]\n  port: 5432"],
    },
    Case {
        name: "json client secret",
        input: r#"{"client_id": "payments-app", "client_secret": "abc123xyz789"}"#,
        gone: &["abc123xyz789"],
        kinds: &["secret"],
        kept: &[r#"{"client_id": "payments-app", "client_secret": "[REDACTED:secret]"}"#],
    },
    Case {
        name: "password flag",
        input: "pg_dump --host=db --password=hunter2 --username app orders",
        gone: &["hunter2"],
        kinds: &["password"],
        kept: &["--password=[REDACTED:password] --username app orders"],
    },
    Case {
        name: "token flag with separate value",
        input: "kubectl --token 0f1e2d3c4b5a69788796a5b4c3d2e1f0 get pods",
        gone: &["0f1e2d3c4b5a69788796a5b4c3d2e1f0"],
        kinds: &["token"],
        kept: &["kubectl --token [REDACTED:token] get pods"],
    },
    Case {
        name: "libpq connection string",
        input: "host=db.internal port=5432 user=app password=s3cr3t dbname=orders sslmode=require",
        gone: &["s3cr3t"],
        kinds: &["password"],
        kept: &["user=app password=[REDACTED:password] dbname=orders sslmode=require"],
    },
    Case {
        name: "libpq quoted password",
        input: "psql \"host=db user=app password='my secret pass' dbname=orders\"",
        gone: &["my secret pass"],
        kinds: &["password"],
        kept: &["password='[REDACTED:password]' dbname=orders"],
    },
    Case {
        name: "kubectl create secret from literal",
        input: "kubectl create secret generic db --from-literal=password=hunter2 --from-literal=user=app",
        gone: &["hunter2"],
        kinds: &["password"],
        kept: &["--from-literal=password=[REDACTED:password] --from-literal=user=app"],
    },
    Case {
        name: "kubectl get secret -o yaml",
        input: include_str!("../redact/secret_get_yaml.txt"),
        gone: &["czNjcjN0LXAwc3RncmVz", "cGF5bWVudHM=", "LS0tLS1CRUdJTi"],
        kinds: &["k8s-secret-data"],
        kept: &[
            "data:\n  password: [REDACTED:k8s-secret-data]\n  tls.key: [REDACTED:k8s-secret-data]\n",
            r#"{"apiVersion":"v1","data":{"password":"[REDACTED:k8s-secret-data]","#,
            "name: db-credentials",
            "uid: 6f1c2a9e-3b7d-4e55-9c1a-2d8f0b7e4a11",
            "type: Opaque",
        ],
    },
    Case {
        name: "kubectl get secret -o json",
        input: include_str!("../redact/secret_get_json.txt"),
        gone: &["czNjcjN0LXAwc3RncmVz", "cGF5bWVudHM="],
        kinds: &["k8s-secret-data"],
        kept: &[
            "\"password\": \"[REDACTED:k8s-secret-data]\",",
            r#"{\"apiVersion\":\"v1\",\"data\":{\"password\":\"[REDACTED:k8s-secret-data]\","#,
            "\"name\": \"db-credentials\"",
            "\"type\": \"Opaque\"",
        ],
    },
    Case {
        name: "kubectl get secret,configmap list",
        input: include_str!("../redact/secret_list_mixed.txt"),
        gone: &["ZXlKaGJHY2lPaUpTVXpJMU5pSXNJbXRwWkNJNklr", "a3ViZS1zeXN0ZW0=", "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t"],
        kinds: &["k8s-secret-data"],
        kept: &["    token: [REDACTED:k8s-secret-data]\n", "    LOG_LEVEL: info\n    TOKEN_TTL: 15m\n"],
    },
    Case {
        name: "secret with stringData block",
        input: include_str!("../redact/secret_string_data.txt"),
        gone: &["Sup3r-s3cret", "tok-1234567890", "featureFlags", "hooks.example.com/T000"],
        kinds: &["k8s-secret-data"],
        kept: &[
            "  config.yaml: [REDACTED:k8s-secret-data]\n\n  API_TOKEN: [REDACTED:k8s-secret-data]\n  # rotated weekly\n",
            "kind: Service\nmetadata:\n  name: payments-api\n",
        ],
    },
    Case {
        name: "env dump",
        input: include_str!("../redact/env_dump.txt"),
        gone: &[
            "s3cr3t-p0stgres",
            "r3d1s-Pa55",
            "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
            "Zm9vYmFyYmF6cXV4",
            "ghp_R2d2C3poBB8Luke5Leia9Han1Solo4Yoda7Xx",
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI",
        ],
        kinds: &["aws-access-key", "aws-secret-key", "github-token", "password", "secret", "stripe-key", "url-password"],
        kept: &[
            "PWD=/app\n",
            "OLDPWD=/\n",
            "DB_USER=payments\nDB_PASSWORD=[REDACTED:password]\n",
            "TOKEN_REFRESH_INTERVAL=30s\n",
            "AUTH_SERVICE_URL=http://auth-service.auth:8080\n",
            "HOSTNAME=payments-api-7d9f8c6b5-xk2lq\n",
        ],
    },
    Case {
        name: "pgpass and url-heavy config",
        input: include_str!("../redact/pgpass_urls.txt"),
        gone: &["Pg-s3cret!2024", "R3pl1cat0r", "Cache-Pa55", "Rabb1t-pw", "M0ng0-pw", "R3port-pw"],
        kinds: &["password", "url-password"],
        kept: &[
            "db-primary.payments.internal:5432:payments:payments_app:[REDACTED:password]\n",
            "spring.datasource.url=jdbc:postgresql://db-primary.payments.internal:5432/payments\n",
            "spring.datasource.username=payments_app\n",
            "redis://default:[REDACTED:url-password]@cache.payments.internal:6379",
            "mongodb+srv://reporting:[REDACTED:url-password]@cluster0.ab12c.mongodb.net/reports?retryWrites=true",
            "user=reporting password=[REDACTED:password] dbname=payments",
        ],
    },
    Case {
        name: "curl -v trace",
        input: include_str!("../redact/curl_verbose.txt"),
        gone: &["4f9c2e7a1b8d3f6e0a5c9b2d7e1f4a8c", "k3y-9a8b7c6d5e4f", "Zx8vQ2lM9pR4tY7u", "Nn4kP0qW8eR2tY6u"],
        kinds: &["bearer-token", "cookie", "secret"],
        kept: &[
            "-H \"Authorization: Bearer [REDACTED:bearer-token]\" https://api.payments.internal/v1/charges?limit=1",
            "> Authorization: Bearer [REDACTED:bearer-token]\n",
            "> X-Api-Key: [REDACTED:secret]\n",
            "> Cookie: session=[REDACTED:cookie]\n",
            "< Set-Cookie: session=[REDACTED:cookie]; Path=/; HttpOnly; Secure\n",
            "< WWW-Authenticate: Bearer realm=\"payments\", error=\"invalid_token\"\n",
            "{\"error\":\"invalid_token\",\"status\":401}",
        ],
    },
    Case {
        name: "deployment env value",
        input: include_str!("../redact/deployment_env.txt"),
        gone: &["hunter2-prod", "r3d1s-t0k3n"],
        kinds: &["password", "token"],
        kept: &[
            "- name: DB_PASSWORD\n          value: [REDACTED:password]\n",
            "- name: LOG_LEVEL\n          value: info\n",
            "value: \"[REDACTED:token]\"",
            "name: db-credentials\n              key: username\n",
        ],
    },
    Case {
        name: "deployment env value in json",
        input: include_str!("../redact/deployment_env.json"),
        gone: &["r3d1s-json-pw"],
        kinds: &["password"],
        kept: &["\"value\": \"[REDACTED:password]\"", "\"value\": \"debug\""],
    },
    Case {
        name: "kubectl describe pod env value",
        input: "    Environment:\n      DB_PASSWORD:  hunter2\n      LOG_LEVEL:    info\n",
        gone: &["hunter2"],
        kinds: &["password"],
        kept: &["      DB_PASSWORD:  [REDACTED:password]\n      LOG_LEVEL:    info\n"],
    },
    Case {
        name: "github tokens",
        input: "GH_TOKEN=github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ\ngit clone https://ghs_16C7e42F292c6912E7710c838347Ae178B4a@github.com/org/repo\noauth: gho_16C7e42F292c6912E7710c838347Ae178B4a\n",
        gone: &["github_pat_11ABCDEFG", "ghs_16C7e42F292c6912E7710c838347Ae178B4a", "gho_16C7"],
        kinds: &["github-token"],
        kept: &["GH_TOKEN=[REDACTED:github-token]\n", "https://[REDACTED:github-token]@github.com/org/repo"],
    },
    Case {
        name: "slack token and webhook",
        input: "SLACK_BOT=xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx\nnotify: https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX\n",
        gone: &["xoxb-123456789012", "AbCdEfGhIjKlMnOpQrStUvWx", "B00000000/XXXXXXXX"],
        kinds: &["slack-token", "slack-webhook"],
        kept: &["SLACK_BOT=[REDACTED:slack-token]", "https://hooks.slack.com/services/[REDACTED:slack-webhook]"],
    },
    Case {
        name: "google api key",
        input: "maps.googleapis.com/maps/api/geocode/json?address=x&key=AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW",
        gone: &["AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW"],
        kinds: &["google-api-key"],
        kept: &["json?address=x&key=[REDACTED:google-api-key]"],
    },
    Case {
        name: "sk- api keys",
        input: "OPENAI_API_KEY=sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z\nfalling back to sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe\n",
        gone: &["sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z", "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe"],
        kinds: &["sk-api-key"],
        kept: &["OPENAI_API_KEY=[REDACTED:sk-api-key]\nfalling back to [REDACTED:sk-api-key]\n"],
    },
    Case {
        name: "docker config auth",
        input: r#"{"auths":{"registry.example.com":{"username":"ci","password":"dckr-pw-123","auth":"Y2k6ZGNrci1wdy0xMjM="}}}"#,
        gone: &["dckr-pw-123", "Y2k6ZGNrci1wdy0xMjM="],
        kinds: &["password", "secret"],
        kept: &[r#""username":"ci","password":"[REDACTED:password]","auth":"[REDACTED:secret]""#],
    },
    Case {
        name: "toml and ini",
        input: "[api]\napi_key = \"abc123def456\"\n[db]\npassword = correct horse battery staple\n",
        gone: &["abc123def456", "correct horse battery staple"],
        kinds: &["password", "secret"],
        kept: &["api_key = \"[REDACTED:secret]\"\n", "password = [REDACTED:password]\n"],
    },
    Case {
        name: "curl basic credentials",
        input: "curl -sS -u admin:hunter2 https://grafana.internal/api/health",
        gone: &["hunter2"],
        kinds: &["password"],
        kept: &["-u admin:[REDACTED:password] https://grafana.internal/api/health"],
    },
    Case {
        name: "curl api key header",
        input: "curl -H 'X-Api-Key: 9a8b7c6d5e4f3a2b' -H 'Accept: application/json' https://api.internal/",
        gone: &["9a8b7c6d5e4f3a2b"],
        kinds: &["secret"],
        kept: &["-H 'X-Api-Key: [REDACTED:secret]' -H 'Accept: application/json'"],
    },
    Case {
        name: "signed url",
        input: "https://acct.blob.core.windows.net/backups/db.tar?sv=2022-11-02&se=2024-03-12&sp=r&sig=Zm9vYmFy%2BYmF6cXV4",
        gone: &["Zm9vYmFy%2BYmF6cXV4"],
        kinds: &["url-signature"],
        kept: &["?sv=2022-11-02&se=2024-03-12&sp=r&sig=[REDACTED:url-signature]"],
    },
    Case {
        name: "mysql, redis-cli and netrc",
        input: "mysql -h db -u root -pHunter2 orders\nredis-cli -h cache -a R3d1s-cli-pw INFO\nmachine api.example.com login bob password n3trc-pw\n",
        gone: &["Hunter2", "R3d1s-cli-pw", "n3trc-pw"],
        kinds: &["password"],
        kept: &["mysql -h db -u root -p[REDACTED:password] orders", "-a [REDACTED:password] INFO", "login bob password [REDACTED:password]"],
    },
    Case {
        name: "yaml block scalar secret",
        input: "vault:\n  token: |\n    s3cr3t-bl0ck-v4lue\n    s3cond-l1ne\n  address: https://vault.internal:8200\n",
        gone: &["s3cr3t-bl0ck-v4lue", "s3cond-l1ne"],
        kinds: &["token"],
        kept: &["vault:\n  token: [REDACTED:token]\n  address: https://vault.internal:8200\n"],
    },
    Case {
        name: "vault token in a yaml block scalar",
        input: "vault:\n  token: |\n    hvs.CAESIJ1a2b3c4d5e6f7g8h9i0\n  address: https://vault.internal:8200\n",
        gone: &["hvs.CAESIJ1a2b3c4d5e6f7g8h9i0"],
        kinds: &["vault-token"],
        kept: &["vault:\n  token: |\n    [REDACTED:vault-token]\n  address: https://vault.internal:8200\n"],
    },
];

/// Inputs that must come back byte-identical, with no findings.
const BENIGN: &[(&str, &str)] = &[
    ("kubectl get pods -A", include_str!("../redact/pods_all.txt")),
    ("kubectl get secrets", include_str!("../redact/get_secrets.txt")),
    ("kubectl describe secret", include_str!("../redact/describe_secret.txt")),
    ("configmap yaml", include_str!("../redact/configmap.txt")),
    ("configmap json", include_str!("../redact/configmap.json")),
    ("pod spec with references", include_str!("../redact/pod_spec.txt")),
    ("kubectl describe pod", include_str!("../redact/describe_pod.txt")),
    ("helm values with references", include_str!("../redact/helm_values.txt")),
    ("tokens per second", "tokens_per_second: 120\n"),
    ("rollout", "deployment.apps/auth-service restarted\nsecret/db-credentials created\n"),
    ("image tag", "    image: registry.example.com/payments/auth-service:v1.24.3-alpine\n"),
    ("git sha", "commit 3f786850e387550fdab836ed7e6dc881de23001b\nAuthor: Jane Doe <jane@example.com>\n"),
    ("uuid", "request_id=550e8400-e29b-41d4-a716-446655440000 status=502\n"),
    ("namespace", "namespace: secrets-manager\nnamespace/token-service created\n"),
    ("alert labels", "alertname=KubePodCrashLooping namespace=auth pod=token-refresher-7d9f8c-xk2lq severity=critical\n"),
    ("prose bearer", "The Bearer token was rejected by the gateway; Bearer authentication is required.\n"),
    ("logfmt", "level=info msg=\"token refreshed\" expires_in=3600 token_type=Bearer\n"),
    ("shell env", "PWD=/home/oncall\nOLDPWD=/\nHOME=/home/oncall\nSHELL=/bin/bash\n"),
    ("kubelet config", "authorization:\n  mode: Webhook\nauthentication:\n  anonymous:\n    enabled: false\n"),
    ("apiserver flags", "--authorization-mode=Node,RBAC --token-auth-file=/etc/kubernetes/tokens.csv --service-account-key-file=/etc/kubernetes/pki/sa.pub\n"),
    ("aws arn", "arn:aws:iam::123456789012:role/token-exchange\n"),
    ("log error", "Error validating token: token is expired\nE0311 09:21:44.123456 1 auth.go:42] secret \"db-token\" not found\n"),
    ("www-authenticate", "WWW-Authenticate: Bearer realm=\"api\", error=\"invalid_token\"\n"),
    ("empty and placeholders", "password: \"\"\nDB_PASSWORD=${DB_PASSWORD}\ntoken: <your-token>\napi_key: \"{{ .Values.apiKey }}\"\nsecret: ****\n"),
    ("secret without data", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: empty\ntype: Opaque\n"),
    ("sk pod name", "pod/sk-worker-deployment-7d9f8c6b5-xk2lq condition met\n"),
    ("crlf table", "NAME            READY   STATUS\r\nauth-service    1/1     Running\r\n"),
    ("unicode", "état: prêt ✓ — 東京 token-refresher\n"),
    ("empty", ""),
];

fn check_idempotent(input: &str, first: &Redacted) {
    let again = redact(&first.text);
    assert_eq!(again.text, first.text, "not idempotent for {input:?}");
    assert!(
        again.findings.is_empty(),
        "second pass found {:?} in {:?}",
        again.findings,
        first.text
    );
}

#[test]
fn secret_corpus() {
    assert!(SECRETS.len() >= 25, "{} secret cases", SECRETS.len());
    for case in SECRETS {
        let out = redact(case.input);
        for gone in case.gone {
            assert!(
                !out.text.contains(gone),
                "{}: {gone:?} survived in\n{}",
                case.name,
                out.text
            );
        }
        for kind in case.kinds {
            assert!(
                out.findings.iter().any(|f| f.kind == *kind && f.count > 0),
                "{}: no {kind} finding in {:?}\n{}",
                case.name,
                out.findings,
                out.text
            );
        }
        for kept in case.kept {
            assert!(
                out.text.contains(kept),
                "{}: {kept:?} lost in\n{}",
                case.name,
                out.text
            );
        }
        assert!(out.total() > 0);
        check_idempotent(case.input, &out);
    }
}

#[test]
fn benign_corpus_is_untouched() {
    assert!(BENIGN.len() >= 20, "{} benign cases", BENIGN.len());
    for (name, input) in BENIGN {
        let out = redact(input);
        assert_eq!(out.text, *input, "{name} changed");
        assert!(out.findings.is_empty(), "{name}: {:?}", out.findings);
        assert_eq!(out.total(), 0);
    }
}

#[test]
fn findings_are_counted_per_kind_and_sorted() {
    let out = redact(
        "a=1 password=x token=y\nAKIAIOSFODNN7EXAMPLE AKIAI44QH8DHBEXAMPLE\nDB_PASSWORD=z\n",
    );
    assert_eq!(
        out.findings,
        [
            Finding {
                kind: "aws-access-key",
                count: 2
            },
            Finding {
                kind: "password",
                count: 2
            },
            Finding {
                kind: "token",
                count: 1
            },
        ]
    );
    assert_eq!(out.total(), 5);
    let json = serde_json::to_string(&out.findings).unwrap();
    assert_eq!(
        json,
        r#"[{"kind":"aws-access-key","count":2},{"kind":"password","count":2},{"kind":"token","count":1}]"#
    );
}

#[test]
fn secret_data_counts_each_value() {
    let out = redact(include_str!("../redact/secret_get_yaml.txt"));
    // Three under `data:`, two in the last-applied annotation.
    assert_eq!(
        out.findings,
        [Finding {
            kind: "k8s-secret-data",
            count: 5
        }]
    );
    let out = redact(include_str!("../redact/secret_get_json.txt"));
    assert_eq!(
        out.findings,
        [Finding {
            kind: "k8s-secret-data",
            count: 4
        }]
    );
}

#[test]
fn configmap_in_the_same_paste_as_a_secret_keeps_its_data() {
    let text = format!(
        "{}---\n{}",
        include_str!("../redact/configmap.txt"),
        include_str!("../redact/secret_string_data.txt").trim_start_matches("---\n")
    );
    let out = redact(&text);
    assert!(out.text.contains("  LOG_LEVEL: info\n  TOKEN_TTL: 15m\n"));
    assert!(!out.text.contains("Sup3r-s3cret"));
}

/// Deterministic xorshift, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.next() as usize % items.len()]
    }
}

const FRAGMENTS: &[&str] = &[
    "password",
    "PASSWORD",
    "token",
    "secret",
    "api_key",
    "=",
    "==",
    ":",
    ": ",
    " ",
    "  ",
    "\n",
    "\r\n",
    "\t",
    "\"",
    "'",
    "\\\"",
    "\\",
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    ",",
    ";",
    "&",
    "?",
    "#",
    "@",
    "/",
    "//",
    "-",
    "--",
    "- ",
    "|",
    ">",
    "< ",
    "> ",
    "*",
    "$",
    "${X}",
    "AKIA",
    "ASIA",
    "IOSFODNN7EXAMPLE",
    "eyJ",
    "eyJhbGciOi",
    ".",
    "-----BEGIN RSA PRIVATE KEY-----",
    "-----END RSA PRIVATE KEY-----",
    "-----BEGIN PRIVATE KEY-----\\n",
    "MIIEow",
    "postgres://",
    "https://",
    "u:p@h",
    "user",
    "Bearer ",
    "Basic ",
    "Authorization: ",
    "authorization=",
    "kind: Secret",
    "\"kind\": \"Secret\"",
    "\"kind\":\"Secret\"",
    "\\\"kind\\\":\\\"Secret\\\"",
    "data:",
    "stringData:",
    "\"data\": {",
    "\\\"data\\\":{",
    "- name: ",
    "DB_PASSWORD",
    "value: ",
    "\"name\": \"DB_TOKEN\", \"value\": \"",
    "[REDACTED:",
    "[REDACTED:password]",
    "ghp_",
    "xoxb-",
    "AIza",
    "sk-",
    "Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8",
    "0123456789abcdef",
    "é",
    "東",
    "\u{0}",
    "\u{202E}",
    "mysql -p",
    "redis-cli -a ",
    "curl -u ",
    "machine m login l password ",
    "host:5432:db:user:",
    "Cookie: ",
    "Set-Cookie: a=b; Path=/",
    "-H '",
    "X-Api-Key: ",
    "?sig=",
    "export ",
    "DB_PASSWORD=",
    "--password ",
    "hooks.slack.com/services/",
    "5 bytes",
    "Proc-Type: 4,ENCRYPTED",
    "secretName",
    "tokens_per_second",
    "x",
    "Key                Value\n",
    "---                -----\n",
    "token_accessor     ",
    "Unseal Key 1: ",
    "Secret ID = ",
    "PWD=",
    ";Password=",
    ";PWD={",
    ",password=",
    "1) \"requirepass\"\n2) \"",
    "WITH PASSWORD '",
    "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1DNENBUUF3QlFZREsyVndCQ0lF",
    "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=",
    "hvs.CAESIJ1a2b3c4d5e6f7g8h9i0",
    "ya29.a0AfB_byPtYgjmUhBel31iEl2hp",
    "https://0123456789abcdef0123@",
    "HMAC_KEY=",
];

#[test]
fn never_panics_and_is_idempotent_on_adversarial_input() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    for round in 0..4_000 {
        let input = if round % 4 == 3 {
            // Raw bytes, made text the way a terminal reader would.
            let bytes: Vec<u8> = (0..rng.next() % 200).map(|_| rng.next() as u8).collect();
            String::from_utf8_lossy(&bytes).into_owned()
        } else {
            let n = 1 + rng.next() % 40;
            (0..n).map(|_| rng.pick(FRAGMENTS)).collect::<String>()
        };
        let out = redact(&input);
        check_idempotent(&input, &out);
        if out.findings.is_empty() {
            assert_eq!(out.text, input, "changed without a finding");
        }
    }
}

#[test]
fn large_input_is_handled() {
    let line = "default  token-refresher-7d9f8c-xk2lq  1/1  Running  0  3d\n";
    let big = line.repeat(20_000);
    let out = redact(&big);
    assert_eq!(out.text, big);
    let long = format!("password={}", "x".repeat(1 << 20));
    let out = redact(&long);
    assert_eq!(out.text, "password=[REDACTED:password]");
}

/// A pasted state with its planted secrets marked `«…»`: the text as pasted
/// (marks removed) and every planted secret.
fn planted(marked: &str) -> (String, Vec<String>) {
    let mut text = String::with_capacity(marked.len());
    let mut secrets = Vec::new();
    let mut rest = marked;
    while let Some(open) = rest.find('«') {
        text.push_str(&rest[..open]);
        let after = &rest[open + '«'.len_utf8()..];
        let close = after.find('»').expect("an unclosed «");
        secrets.push(after[..close].to_string());
        text.push_str(&after[..close]);
        rest = &after[close + '»'.len_utf8()..];
    }
    text.push_str(rest);
    (text, secrets)
}

/// What of `secret` survives in `out`: the whole of it, or any 12-char
/// piece of it that appears nowhere else in the input (a half-redacted
/// value leaks too).
fn leaked(secret: &str, out: &str, background: &str) -> Option<String> {
    if out.contains(secret) {
        return Some(secret.to_string());
    }
    let chars: Vec<char> = secret.chars().collect();
    chars
        .windows(12)
        .map(|w| w.iter().collect::<String>())
        .find(|piece| out.contains(piece.as_str()) && !background.contains(piece.as_str()))
}

#[test]
fn every_planted_secret_in_a_pasted_state_is_gone() {
    let (input, secrets) = planted(include_str!("../redact/hostile_state.txt"));
    assert!(secrets.len() >= 80, "{} planted secrets", secrets.len());
    let background = secrets
        .iter()
        .fold(input.clone(), |text, s| text.replace(s.as_str(), "\u{0}"));
    let out = redact(&input);
    let leaks: Vec<String> = secrets
        .iter()
        .filter_map(|s| leaked(s, &out.text, &background).map(|piece| format!("{s:?} ({piece:?})")))
        .collect();
    assert!(
        leaks.is_empty(),
        "{} of {} planted secrets leaked:\n{}\n---\n{}",
        leaks.len(),
        secrets.len(),
        leaks.join("\n"),
        out.text
    );
    check_idempotent(&input, &out);
    // What a runbook needs from the same paste is still there.
    for kept in [
        "namespace: payments",
        "payments-worker-5b7c9d8e4-qq7zt    0/1     CrashLoopBackOff",
        "server: https://10.42.0.1:6443",
        "certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t",
        "AccountName=prodpaymentsstore;",
        "Server=tcp:payments-sql.database.windows.net,1433;Initial Catalog=payments;",
        "UID=svc_payments\n",
        "PWD=/app\n",
        "\"PWD=/srv\"",
        "GOOGLE_APPLICATION_CREDENTIALS=/var/run/secrets/google/key.json\n",
        "token_duration       8h\n",
        "username           v-oidc-payments-ro-EyC4fTkZhDoDUE98wx2p-1710239004\n",
        "lease_id           database/creds/payments-ro/",
        "AccessorID:       e5b5a6f1-7c3d-4e2a-9b8c-1d2e3f4a5b6c\n",
        "upstream: payments-api.payments.svc:8080\n",
        "INFO  job 4411 succeeded\n",
        "@rabbitmq.payments.svc:5672/prod\n",
    ] {
        assert!(out.text.contains(kept), "{kept:?} lost in\n{}", out.text);
    }
}

#[test]
fn a_pasted_state_without_secrets_is_untouched() {
    let input = include_str!("../redact/benign_state.txt");
    let out = redact(input);
    assert!(out.findings.is_empty(), "{:?}\n{}", out.findings, out.text);
    assert_eq!(out.text, input);
    // The values runbooks extract, spelled out.
    for kept in [
        "payments      payments-worker-5b7c9d8e4-qq7zt            0/1     CrashLoopBackOff",
        "auth          api-key-rotator-28510920-7xk2p",
        "used_memory:8482197504\n",
        "maxmemory_policy:noeviction\n",
        "db0:keys=1203312,expires=88123",
        "/dev/nvme1n1    200G  188G   12G  95% /var/lib/postgresql/data\n",
        " payments | payments_app | payments-worker  | 10.42.1.9   | idle in transaction\n",
        "password_encryption = scram-sha-256\n",
        "Sealed                   false\n",
        "topologyKey: kubernetes.io/hostname\n",
        "key: node.kubernetes.io/not-ready\n",
        "PWD=/home/oncall/runbooks\n",
        "KEY_FILE=/etc/ssl/private/payments.key\n",
    ] {
        assert!(out.text.contains(kept), "{kept:?} lost");
    }
}

#[test]
fn pwd_is_a_password_unless_it_is_a_directory() {
    for (input, secret) in [
        ("PWD=/home/oncall\n", None),
        ("OLDPWD=/srv/app\n", None),
        ("PWD=~/work\n", None),
        ("PWD=C:\\Users\\oncall\n", None),
        ("UID=sa;PWD=Sq1Serv3r!;Database=orders", Some("Sq1Serv3r!")),
        ("PWD=hunter2sekret\n", Some("hunter2sekret")),
        ("      PWD:  Zq8xT2mW\n", Some("Zq8xT2mW")),
        ("{\"PWD\": \"pw-in-json-42\"}", Some("pw-in-json-42")),
    ] {
        let out = redact(input);
        match secret {
            None => assert_eq!(out.text, input),
            Some(s) => assert!(!out.text.contains(s), "{input:?} → {}", out.text),
        }
    }
}

#[test]
fn connection_string_values_run_to_the_separator() {
    let out = redact("Server=db;User ID=app;Password=two words here;Encrypt=True;");
    assert_eq!(
        out.text,
        "Server=db;User ID=app;Password=[REDACTED:password];Encrypt=True;"
    );
    let out = redact("Driver={SQL Server};Uid=x;Pwd={a;b c};Server=y");
    assert_eq!(
        out.text,
        "Driver={SQL Server};Uid=x;Pwd=[REDACTED:password];Server=y"
    );
    let out = redact("cache:6380,password=abc+/def=,ssl=True,abortConnect=False");
    assert_eq!(
        out.text,
        "cache:6380,password=[REDACTED:password],ssl=True,abortConnect=False"
    );
}

#[test]
fn base64_is_judged_by_what_it_decodes_to() {
    // A certificate is public; a private key or credentials file is not.
    let cert = "ca.crt: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJnVENDQVNlZ0F3SUJBZ0lVY3Zab3RSNHkrK1hhbUgyZ0ZxWUdNRkl5UDZRd0NnWUlLb1pJemowRUF3SXcKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=\n";
    assert_eq!(redact(cert).text, cert);
    let key = "ca.pem: LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1DNENBUUF3QlFZREsyVndCQ0lFSUZWUGV6b3dwelNQazdEWEJEZ1J0MmRQbTVIWk9INTVlb1k1eS9NU3QxbTEKLS0tLS1FTkQgUFJJVkFURSBLRVktLS0tLQo=\n";
    let out = redact(key);
    assert_eq!(out.text, "ca.pem: [REDACTED:private-key]\n");
    let netrc = format!(
        "blob {}\n",
        "bWFjaGluZSBhcGkuZXhhbXBsZS5jb20gbG9naW4gYm9iIHBhc3N3b3JkIG4zdHJjLXB3Cg=="
    );
    let out = redact(&netrc);
    assert_eq!(out.text, "blob [REDACTED:encoded-secret]\n");
}

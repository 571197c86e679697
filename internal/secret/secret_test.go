package secret

import "testing"

func TestEnvName(t *testing.T) {
	for k, want := range map[string]bool{
		"WANDB_API_KEY": true, "AWS_SECRET_ACCESS_KEY": true, "HF_TOKEN": true, "PGPASSWORD": true,
		"GOOGLE_APPLICATION_CREDENTIALS": true, "wandb_api_key": true, "NPM_AUTH": true, "TOKEN": true,
		"PATH": false, "HOME": false, "WANDB_PROJECT": false, "VIRTUAL_ENV": false, "CONDA_PREFIX": false,
		"KEYBOARD": false, "TOKENIZERS_PARALLELISM": false,
	} {
		if got := EnvName(k); got != want {
			t.Errorf("EnvName(%q) = %v, want %v", k, got, want)
		}
	}
}

@echo off
rem Windows (cmd) mirror of deploy-cloud-run.sh: the same arguments, checks, exit codes and steps.
rem Builds Dockerfile.prod with Cloud Build, deploys it to Cloud Run, prints the URL and a curl
rem line, and ends with scripts\smoke-test.sh (run by Git for Windows' bash) against the service.
setlocal EnableExtensions EnableDelayedExpansion

set "PROJECT="
set "REGION="
set "SERVICE=python-script-api"
set "SA="
set "ALLOW=1"
set "DRY=0"
set "BGCPU=0"
set "NPOS=0"

rem ---- arguments: checked before anything needs gcloud ------------------------------------------
rem cmd splits arguments at "=" too, so --service=NAME arrives as --service NAME, as in the .sh.
:parse
if "%~1"=="" goto parsed
set "ARG=%~1"
if /i "!ARG!"=="-h" goto help
if /i "!ARG!"=="--help" goto help
if "!ARG!"=="--dry-run" (set "DRY=1" & shift & goto parse)
if "!ARG!"=="--background-cpu" (set "BGCPU=1" & shift & goto parse)
if "!ARG!"=="--no-allow-unauthenticated" (set "ALLOW=0" & shift & goto parse)
if "!ARG!"=="--allow-unauthenticated" (set "ALLOW=1" & shift & goto parse)
if "!ARG!"=="--service" goto opt_value
if "!ARG!"=="--service-account" goto opt_value
if "%ARG:~0,1%"=="-" (
  set "MSG=unknown option: !ARG!"
  goto usage_error
)
set /a NPOS+=1
if !NPOS!==1 set "PROJECT=!ARG!"
if !NPOS!==2 set "REGION=!ARG!"
if !NPOS! GTR 2 (
  set "MSG=too many arguments: !PROJECT! !REGION! !ARG!"
  goto usage_error
)
shift
goto parse

:opt_value
set "VAL=%~2"
if not defined VAL goto need_value
if "%VAL:~0,1%"=="-" goto need_value
if "!ARG!"=="--service" (set "SERVICE=!VAL!") else (set "SA=!VAL!")
shift
shift
goto parse

:need_value
set "MSG=!ARG! needs a value"
goto usage_error

:parsed
if not defined PROJECT (
  set "MSG=missing PROJECT_ID (the Google Cloud project to deploy to)"
  goto usage_error
)
if not defined REGION set "REGION=us-central1"
rem The same rules as the .sh's regular expressions, in plain cmd (no findstr): see :check_name.
rem Substrings and substitutions use %%VAR:...%% only, never !VAR:...!, throughout.
call :check_name "%PROJECT%" 6 100 "-:."
if errorlevel 1 goto bad_project
call :check_name "%REGION%" 4 40 "-"
if errorlevel 1 goto bad_region
if "%REGION:-=%"=="%REGION%" goto bad_region
call :check_name "%SERVICE%" 1 49 "-"
if errorlevel 1 goto bad_service
if not defined SA goto sa_ok
if not "%SA:@=%"=="%SA%" goto sa_ok
set "MSG=--service-account '!SA!' is not an email address"
goto usage_error
:sa_ok

rem gcloud is gcloud.cmd on Windows; %%~$PATH:x searches PATH like "where", with no extra program.
set "GCLOUD="
for %%x in (gcloud.cmd gcloud.exe gcloud.bat) do if not defined GCLOUD if not "%%~$PATH:x"=="" set "GCLOUD=%%~$PATH:x"
if "%DRY%"=="0" if not defined GCLOUD (
  >&2 echo deploy-cloud-run: gcloud is not on PATH; install the Google Cloud CLI and run 'gcloud auth login' ^(or use --dry-run^)
  exit /b 3
)

rem ---- what is deployed -------------------------------------------------------------------------
rem Two sandboxes at once on 2 vCPUs, and at most eight more requests queued (fewer when runs are
rem slow: the server queues a request only while its expected wait stays within
rem SANDBOX_QUEUE_WAIT_SECS). Cloud Run's concurrency is slots + queue, so that an instance is never
rem sent more than it can admit (see deploy-cloud-run.sh).
set "SLOTS=2"
set "QUEUE=8"
set /a CONCURRENCY=SLOTS+QUEUE
rem Per-run memory cap: two runs at the cap fit the 2 GiB instance with room for the server.
set "MAX_MEMORY_MB=768"
if defined AR_REPOSITORY (set "REPO=%AR_REPOSITORY%") else (set "REPO=python-script-api")
set "TAG=%IMAGE_TAG%"
if not defined TAG (
  for /f "usebackq delims=" %%t in (`powershell -NoProfile -Command "(Get-Date).ToUniversalTime().ToString('yyyyMMdd-HHmmss')"`) do set "TAG=%%t"
)
if not defined TAG set "TAG=build-%RANDOM%%RANDOM%"
set "IMAGE=%REGION%-docker.pkg.dev/%PROJECT%/%REPO%/%SERVICE%:%TAG%"
set "HERE=%~dp0"
if "%HERE:~-1%"=="\" set "HERE=%HERE:~0,-1%"

rem "gcloud builds submit --tag" always builds .\Dockerfile (the development image). To build
rem Dockerfile.prod, the build gets a one-step Cloud Build config generated here: docker build
rem -f Dockerfile.prod, then push. The uploaded source honours .gitignore (gcloud's default when
rem there is no .gcloudignore), so target\ and .sandbox\ stay home.
set "BUILD_CONFIG=%TEMP%\cloudbuild-%RANDOM%%RANDOM%.yaml"
> "%BUILD_CONFIG%" (
  echo steps:
  echo   - name: gcr.io/cloud-builders/docker
  echo     args: ["build", "--file", "Dockerfile.prod", "--tag", "%IMAGE%", "."]
  echo images: ["%IMAGE%"]
  echo timeout: 1800s
)

echo == %SERVICE% -^> project %PROJECT%, region %REGION%, image %IMAGE%
if "%DRY%"=="1" (
  echo == dry run: the commands are printed, not run; Cloud Build config ^(%BUILD_CONFIG%^):
  type "%BUILD_CONFIG%"
)

echo == enabling the APIs
call :run gcloud services enable run.googleapis.com cloudbuild.googleapis.com artifactregistry.googleapis.com --project "%PROJECT%"
if errorlevel 1 goto failed

echo == Artifact Registry repository %REPO%
if "%DRY%"=="1" goto create_repo
call gcloud artifacts repositories describe "%REPO%" --project "%PROJECT%" --location "%REGION%" >nul 2>nul
if not errorlevel 1 goto build
:create_repo
call :run gcloud artifacts repositories create "%REPO%" --project "%PROJECT%" --location "%REGION%" --repository-format docker --description "python-script-api images"
if errorlevel 1 goto failed

:build
echo == building Dockerfile.prod with Cloud Build
call :run gcloud builds submit "%HERE%" --project "%PROJECT%" --config "%BUILD_CONFIG%"
if errorlevel 1 goto failed

echo == deploying
rem gen1's gVisor sandbox cannot create nsjail's namespaces; gen2 is a microVM with a real kernel.
rem A run may last MAX_TIMEOUT_SECS (300 s); the request timeout of 360 s leaves room for queueing.
set "EXTRA="
if defined SA set "EXTRA=--service-account "%SA%""
if "%ALLOW%"=="1" (set "EXTRA=!EXTRA! --allow-unauthenticated") else (set "EXTRA=!EXTRA! --no-allow-unauthenticated")
rem Jobs run outside requests: CPU stays allocated between them (README, Jobs).
if "%BGCPU%"=="1" set "EXTRA=!EXTRA! --no-cpu-throttling"
call :run gcloud run deploy "%SERVICE%" --project "%PROJECT%" --region "%REGION%" --platform managed --image "%IMAGE%" --execution-environment gen2 --memory 2Gi --cpu 2 --concurrency %CONCURRENCY% --session-affinity --timeout 360 --port 8080 --startup-probe "httpGet.path=/health,httpGet.port=8080,initialDelaySeconds=0,periodSeconds=5,timeoutSeconds=3,failureThreshold=24" --set-env-vars "HOST=0.0.0.0,SANDBOX_PROFILE=auto,SANDBOX_SLOTS=%SLOTS%,SANDBOX_QUEUE=%QUEUE%,MAX_TIMEOUT_SECS=300,MAX_MEMORY_MB=%MAX_MEMORY_MB%" !EXTRA!
if errorlevel 1 goto failed

if "%DRY%"=="1" (
  set "URL=<SERVICE_URL>"
  call :run gcloud run services describe "%SERVICE%" --project "%PROJECT%" --region "%REGION%" --format "value(status.url)"
) else (
  set "URL="
  for /f "usebackq delims=" %%u in (`gcloud run services describe "%SERVICE%" --project "%PROJECT%" --region "%REGION%" --format "value(status.url)"`) do set "URL=%%u"
)
if not defined URL (
  >&2 echo deploy-cloud-run: could not read the service URL
  set "RC=1"
  goto cleanup
)

echo.
echo Service URL: !URL!
echo Try it:
rem Printed through variables: delayed expansion prints ( ) < > % as they are.
set "TOKLINE=  for /f %%t in ('gcloud auth print-identity-token') do set TOKEN=%%t"
if "%ALLOW%"=="0" echo !TOKLINE!
set "CURL=  curl -sS -X POST "!URL!/execute""
if "%ALLOW%"=="0" set "CURL=!CURL! -H "Authorization: Bearer %%TOKEN%%""
set "CURL=!CURL! -H "Content-Type: application/json" -d "{\"script\": \"def main():\n    return {\\\"answer\\\": 6 * 7}\", \"timeout\": 30}""
echo !CURL!
echo.

echo == smoke test
set "TOKEN_NOTE="
if "%ALLOW%"=="0" set "TOKEN_NOTE= --token <identity token from: gcloud auth print-identity-token>"
if "%DRY%"=="1" (
  echo + bash scripts/smoke-test.sh "!URL!"!TOKEN_NOTE!
  set "RC=0"
  goto cleanup
)
rem Git for Windows' bash first (its usual place, then PATH); WSL's bash.exe works too if its
rem distribution has curl.
set "BASH="
if exist "%ProgramFiles%\Git\bin\bash.exe" set "BASH=%ProgramFiles%\Git\bin\bash.exe"
if not defined BASH for %%x in (bash.exe) do set "BASH=%%~$PATH:x"
if not defined BASH goto no_bash
rem The token is handed over in SMOKE_TOKEN, smoke-test.sh's equivalent of --token, so that no
rem command line shows it. WSLENV carries it into WSL's bash too.
if "%ALLOW%"=="0" (
  for /f "usebackq delims=" %%t in (`gcloud auth print-identity-token`) do set "SMOKE_TOKEN=%%t"
  set "WSLENV=SMOKE_TOKEN/u:!WSLENV!"
)
echo + bash scripts/smoke-test.sh "!URL!"!TOKEN_NOTE!
pushd "%HERE%"
"!BASH!" scripts/smoke-test.sh "!URL!"
set "RC=!errorlevel!"
popd
goto cleanup

:no_bash
>&2 echo deploy-cloud-run: the smoke test needs bash ^(Git for Windows^); only /health is checked here
set "HDR="
if "%ALLOW%"=="0" (
  for /f "usebackq delims=" %%t in (`gcloud auth print-identity-token`) do set "HDR=Authorization: Bearer %%t"
)
if defined HDR (curl.exe -fsS --max-time 30 -H "!HDR!" "!URL!/health") else (curl.exe -fsS --max-time 30 "!URL!/health")
echo.
>&2 echo deploy-cloud-run: deployed, but scripts/smoke-test.sh did not run
set "RC=4"
goto cleanup

:failed
set "RC=%errorlevel%"
>&2 echo deploy-cloud-run: the step above failed ^(exit %RC%^)
goto cleanup

:cleanup
del /q "%BUILD_CONFIG%" >nul 2>nul
exit /b %RC%

rem ---- helpers ----------------------------------------------------------------------------------
rem run COMMAND...: prints the command; runs it unless --dry-run ("call" so gcloud.cmd returns here).
:run
echo + %*
if "%DRY%"=="1" exit /b 0
call %*
exit /b %errorlevel%

:check_name VALUE MIN_LEN MAX_LEN EXTRA_CHARS
rem Succeeds when VALUE is MIN..MAX characters of lowercase letters, digits and EXTRA_CHARS, starts
rem with a letter and ends with a letter or digit. cmd's substitutions ignore case, so replacing
rem each letter by itself lowercases: a string that changed had capitals. The "#" keeps a string
rem from becoming empty, where %%VAR:...%% would no longer expand.
setlocal DisableDelayedExpansion
set "V=%~1"
set "EXTRA=#%~4"
if not defined V exit /b 1
set /a MINI=%2-1, MAXI=%3
set "C="
call set "C=%%V:~%MINI%,1%%"
if not defined C exit /b 1
set "C="
call set "C=%%V:~%MAXI%,1%%"
if defined C exit /b 1
set "L=#%V%"
for %%c in (a b c d e f g h i j k l m n o p q r s t u v w x y z) do call set "L=%%L:%%c=%%c%%"
if not "%L%"=="#%V%" exit /b 1
set "T=#%V%"
for %%c in (a b c d e f g h i j k l m n o p q r s t u v w x y z 0 1 2 3 4 5 6 7 8 9) do call set "T=%%T:%%c=%%"
if not "%EXTRA:-=%"=="%EXTRA%" set "T=%T:-=%"
if not "%EXTRA::=%"=="%EXTRA%" set "T=%T::=%"
if not "%EXTRA:.=%"=="%EXTRA%" set "T=%T:.=%"
if not "%T%"=="#" exit /b 1
set "F=#%V:~0,1%"
for %%c in (a b c d e f g h i j k l m n o p q r s t u v w x y z) do call set "F=%%F:%%c=%%"
if not "%F%"=="#" exit /b 1
set "E=#%V:~-1%"
for %%c in (a b c d e f g h i j k l m n o p q r s t u v w x y z 0 1 2 3 4 5 6 7 8 9) do call set "E=%%E:%%c=%%"
if not "%E%"=="#" exit /b 1
exit /b 0

:bad_region
set "MSG=REGION '!REGION!' is not a valid region (e.g. europe-west1)"
goto usage_error

:bad_project
set "MSG=PROJECT_ID '!PROJECT!' is not a valid project id"
goto usage_error

:bad_service
set "MSG=--service '!SERVICE!' is not a valid Cloud Run service name"
goto usage_error

:usage_error
>&2 echo deploy-cloud-run: !MSG!
>&2 echo Usage: %~nx0 PROJECT_ID [REGION] [--service NAME] [--service-account EMAIL] [--no-allow-unauthenticated] [--background-cpu] [--dry-run]
exit /b 2

:help
echo Builds Dockerfile.prod with Cloud Build, deploys it to Cloud Run, prints the URL and a curl line,
echo and ends with scripts/smoke-test.sh against the new service (needs bash, e.g. Git for Windows).
echo.
echo Usage: %~nx0 PROJECT_ID [REGION] [options]     (options may come first too)
echo   REGION                       default us-central1
echo   --service NAME               Cloud Run service (and image) name, default python-script-api
echo   --service-account EMAIL      run the service as this service account
echo   --no-allow-unauthenticated   require an identity token (default: public)
echo   --background-cpu             keep CPU allocated outside requests, so that jobs run between requests ^(--no-cpu-throttling^)
echo   --dry-run                    print the commands instead of running them (gcloud not needed)
echo   -h, --help                   this text
echo Exit codes: 0 deployed and smoke-tested, 2 bad arguments, 3 gcloud not on PATH, 4 deployed but
echo no bash for the smoke test, other: the failing step's own code (a failed smoke test included).
echo Environment: IMAGE_TAG (default: UTC timestamp), AR_REPOSITORY (Artifact Registry repository,
echo default python-script-api, created on first use).
exit /b 0

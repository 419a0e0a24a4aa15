using System.Net;
using System.Net.Http.Headers;
using System.Reflection;
using System.Text;
using System.Text.Json.Nodes;
using Amazon.Runtime;
using Amazon.S3;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;
using TrackMulti.Api.Ingestion;
using TrackMulti.Api.Sinks.S3;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.InProcess;

/// <summary>
/// The Api's OpenAPI document, read from the Api in-process with its keys set: it is valid OpenAPI, holds every route
/// the Api maps, and documents every refusal the Api answers with, on the operation that answered it.
/// </summary>
public sealed class OpenApiTests(OpenApiTests.DocumentedApi api) : IClassFixture<OpenApiTests.DocumentedApi>
{
    private const string DocumentPath = ApiContract.DocumentPath;

    [Fact]
    public async Task The_document_is_valid_OpenAPI_and_names_no_key()
    {
        using var http = api.CreateClient();
        var text = await http.GetStringAsync(DocumentPath);

        var read = OpenApiDocument.Parse(text, "json");
        Assert.Empty(read.Diagnostic?.Errors ?? []);
        Assert.NotNull(read.Document);
        Assert.Empty(read.Document.Validate(Microsoft.OpenApi.ValidationRuleSet.GetDefaultRuleSet()) ?? []);
        Assert.StartsWith("3.1", JsonNode.Parse(text)!["openapi"]!.GetValue<string>());

        foreach (var key in DocumentedApi.Keys)
        {
            Assert.DoesNotContain(key, text);
        }
    }

    [Fact]
    public async Task Every_route_the_Api_maps_is_in_the_document()
    {
        var document = await DocumentAsync();
        var routes = api.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(endpoint => !IsTheDocumentItself(endpoint))
            .SelectMany(endpoint => (endpoint.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["GET"])
                .Select(method => (Method: method.ToLowerInvariant(), Path: "/" + endpoint.RoutePattern.RawText!.TrimStart('/'))))
            .Distinct()
            .ToList();

        Assert.Contains(routes, route => route.Path.StartsWith("/fme/api/", StringComparison.Ordinal)); // the app's routes were read
        var missing = routes.Where(route => document["paths"]?[route.Path]?[route.Method] is null).ToList();
        Assert.Empty(missing);
    }

    [Fact]
    public async Task Every_refusal_in_the_table_is_documented_with_its_status_on_some_operation()
    {
        var document = await DocumentAsync();
        var table = typeof(Rejections).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(field => field.FieldType == typeof(Rejection))
            .Select(field => (Rejection)field.GetValue(null)!)
            .ToList();
        Assert.NotEmpty(table);

        var undocumented = table.Where(rejection => !Operations(document).Any(op => Documents(op.Operation, rejection.Status, rejection.Type)));
        Assert.Empty(undocumented);
    }

    [Fact]
    public async Task Where_a_refusal_says_when_to_retry_the_document_names_the_Retry_After_header()
    {
        var document = await DocumentAsync();
        var retryable = typeof(Rejections).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Select(field => field.GetValue(null)).OfType<Rejection>().Where(r => r.SaysWhenToRetry).ToList();
        Assert.NotEmpty(retryable);

        var documented = (from op in Operations(document)
                          from rejection in retryable
                          where Documents(op.Operation, rejection.Status, rejection.Type)
                          select (op, rejection)).ToList();
        Assert.NotEmpty(documented);
        Assert.All(documented, pair => Assert.True(
            pair.op.Operation["responses"]![pair.rejection.Status.ToString()]!["headers"]?["Retry-After"]?["schema"]?["type"]?.GetValue<string>() == "integer",
            $"{pair.op.Method} {pair.op.Path}: {pair.rejection.Status} {pair.rejection.Type} without a Retry-After header"));
    }

    [Fact]
    public async Task Every_problem_the_Api_answers_is_documented_on_the_operation_that_answered_it()
    {
        var document = await DocumentAsync();
        var contract = new ApiContract(document);
        using var http = api.CreateClient();
        var answers = new List<(string Request, int Status, string? Type, JsonNode Operation)>();

        async Task SendAsync(string method, string path, JsonNode operation, string? body, string? contentType, Action<HttpRequestHeaders>? key)
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), path);
            if (body is not null)
            {
                request.Content = new StringContent(body, Encoding.UTF8);
                request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType!);
            }
            key?.Invoke(request.Headers);
            using var response = await http.SendAsync(request);
            var answer = await response.Content.ReadAsStringAsync();
            var type = response.Content.Headers.ContentType?.MediaType == ApiDocument.ProblemContentType
                ? JsonNode.Parse(answer)!["type"]?.GetValue<string>()
                : null;
            answers.Add(($"{method} {path} ({contentType ?? "no body"})", (int)response.StatusCode, type, operation));
            // Whatever it answered, in the shape the document gives that status.
            Assert.Empty(contract.ResponseErrors(method, path, (int)response.StatusCode, response.Content.Headers.ContentType?.ToString(), answer)
                .Select(error => $"{method} {path}: {(int)response.StatusCode}: {error}"));
        }

        foreach (var (path, method, operation) in Operations(document))
        {
            var rightKey = RightKey(path, operation);
            var content = operation["requestBody"]?["content"] as JsonObject;
            if (operation["security"]?.AsArray().Count > 0)
            {
                // A body the operation takes, so the key is what it is refused for.
                var (body, type) = content is null ? (null, null) : ("[]", content.First().Key);
                await SendAsync(method, path, operation, body, type, key: null);
                await SendAsync(method, path, operation, body, type, key: headers => headers.Authorization = new("Bearer", "not-the-key"));
                Assert.Equal(HttpStatusCode.Unauthorized, (HttpStatusCode)answers[^2].Status);
                Assert.Equal(HttpStatusCode.Forbidden, (HttpStatusCode)answers[^1].Status);
            }
            if (content is not null)
            {
                await SendAsync(method, path, operation, "x", "text/csv", rightKey);
                Assert.Equal(HttpStatusCode.UnsupportedMediaType, (HttpStatusCode)answers[^1].Status);
                foreach (var (type, _) in content)
                {
                    // A body of a documented type is read, not turned away for its type: '{' is no JSON, no NDJSON line.
                    await SendAsync(method, path, operation, "{", type, rightKey);
                    Assert.Equal(HttpStatusCode.BadRequest, (HttpStatusCode)answers[^1].Status);
                }
            }
            else if (method == "get" && path.StartsWith("/api/", StringComparison.Ordinal))
            {
                await SendAsync(method, path, operation, null, null, rightKey);
            }
        }

        // Refusals no request above reaches: a limit, the event's own rules, the object list's limit.
        var ops = Operations(document).ToDictionary(op => $"{op.Method} {op.Path}", op => op.Operation);
        var ingest = Header(ApiKeys.HeaderName, DocumentedApi.IngestKey);
        var admin = Header(ApiKeys.HeaderName, DocumentedApi.AdminKey);
        foreach (var (method, path, operation, body, contentType, key) in new (string, string, JsonNode, string?, string?, Action<HttpRequestHeaders>?)[]
        {
            ("POST", "/api/batch", ops["post /api/batch"], """[{"name":"a"},{"name":"b"},{"name":"c"}]""", "application/json", ingest),
            ("POST", "/api/batch", ops["post /api/batch"], """{"name":"not an event type!"}""", "application/x-ndjson", ingest),
            ("POST", "/api/track", ops["post /api/track"], """{"name":"ok","value":"one"}""", "application/json", ingest),
            ("GET", "/api/objects?limit=0", ops["get /api/objects"], null, null, admin),
        })
        {
            await SendAsync(method, path, operation, body, contentType, key);
            Assert.InRange(answers[^1].Status, 400, 499);
        }

        var refusals = answers.Where(answer => answer.Status >= 400).ToList();
        Assert.All(refusals, answer => Assert.True(answer.Type is not null, $"{answer.Request}: {answer.Status} is no problem details"));
        var undocumented = refusals.Where(answer => !Documents(answer.Operation, answer.Status, answer.Type!))
            .Select(answer => $"{answer.Request}: {answer.Status} {answer.Type}");
        Assert.Empty(undocumented);
    }

    [Fact]
    public async Task Every_request_of_the_accepted_corpora_and_every_answer_agree_with_the_document()
    {
        await using var bucket = await S3rverBucket.CreateAsync("openapi-contract");
        await using var host = await ApiHost.StartAsync(bucket, ("HARNESS_FME_API_KEY", DocumentedApi.FmeKey), ("FME_FORWARD", "off"));
        var contract = await ApiContract.FetchAsync(host.Http);
        var disagreements = new List<string>();

        async Task<JsonNode?> ExchangeAsync(string method, string path, string? contentType = null, string? body = null, string? bearer = null)
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), path);
            if (body is not null)
            {
                request.Content = new StringContent(body, Encoding.UTF8);
                request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType!);
            }
            if (bearer is not null)
            {
                request.Headers.Authorization = new("Bearer", bearer);
            }
            using var response = await host.Http.SendAsync(request);
            var answer = await response.Content.ReadAsStringAsync();
            var shown = $"{method} {path} {body?[..Math.Min(body.Length, 60)]}";
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{shown}: {(int)response.StatusCode} {answer}");
            disagreements.AddRange(contract.RequestErrors(method, path, contentType, body).Select(error => $"{shown}: request: {error}"));
            var answered = response.Content.Headers.ContentType?.ToString();
            disagreements.AddRange(contract.ResponseErrors(method, path, (int)response.StatusCode, answered, answer).Select(error => $"{shown}: answer: {error}"));
            return answered?.StartsWith("application/json", StringComparison.Ordinal) == true ? JsonNode.Parse(answer) : null;
        }

        foreach (var evt in AdmissionTests.EdgeEvents)
        {
            await ExchangeAsync("POST", "/api/track", "application/json", evt);
        }
        await ExchangeAsync("POST", "/api/batch", "application/json", "[" + string.Join(",", BatchApiTests.Events) + "]");
        await ExchangeAsync("POST", "/api/batch", "application/x-ndjson", string.Join("\n", BatchApiTests.Events) + "\n");
        foreach (var (path, body, beacon) in FmeSdkApiTests.SdkPosts)
        {
            // As the SDK sends them: a beacon as text/plain with its key inside, a post as JSON with its key as Bearer.
            await (beacon
                ? ExchangeAsync("POST", FmeSdkApi.BasePath + path, "text/plain;charset=UTF-8", FmeSdkApiTests.BeaconOf(body, DocumentedApi.FmeKey))
                : ExchangeAsync("POST", FmeSdkApi.BasePath + path, "application/json", body, DocumentedApi.FmeKey));
        }

        var sealing = await ExchangeAsync("POST", "/api/flush");
        Assert.NotEmpty(sealing!["batches"]!.AsArray());
        Assert.Null(sealing["message"]); // absent when batches were sealed: the document may not require it
        var idle = await ExchangeAsync("POST", "/api/flush");
        Assert.NotNull(idle!["message"]);
        foreach (var path in new[] { "/api/status", "/api/objects", "/api/objects?limit=1", "/api/objects?limit=100", "/api/athena/ddl", "/health", "/alive", "/ready" })
        {
            await ExchangeAsync("GET", path);
        }

        Assert.Empty(disagreements);
    }

    [Fact]
    public async Task The_document_passes_a_lint_by_the_recommended_rules_with_no_error()
    {
        Assert.True(File.Exists(TestPaths.RedoclyScript), $"Redocly CLI is not installed at {TestPaths.RedoclyScript}; building TrackMulti.Tests installs it (npm ci).");
        var folder = TestPaths.NewTemporaryDirectory("openapi-lint");
        try
        {
            var file = Path.Combine(folder, "openapi.json");
            using (var http = api.CreateClient())
            {
                await File.WriteAllTextAsync(file, await http.GetStringAsync(DocumentPath));
            }

            var (exitCode, output, errorOutput) = await RunAsync("node",
                [TestPaths.RedoclyScript, "lint", file, "--config", TestPaths.RedoclyConfig, "--format", "json"], folder);

            var report = JsonNode.Parse(output) ?? throw new InvalidOperationException($"No report: {errorOutput}");
            var errors = report["problems"]!.AsArray()
                .Where(problem => problem!["severity"]!.GetValue<string>() == "error")
                .Select(problem => $"{problem!["ruleId"]}: {problem["message"]} at {problem["location"]?[0]?["pointer"]}");
            Assert.Empty(errors);
            Assert.Equal(0, report["totals"]!["errors"]!.GetValue<int>());
            Assert.True(exitCode == 0, errorOutput);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>Runs a program to its end (at most a minute): its exit code and what it wrote.</summary>
    private static async Task<(int ExitCode, string Output, string ErrorOutput)> RunAsync(string program, IEnumerable<string> arguments, string folder)
    {
        var start = new System.Diagnostics.ProcessStartInfo(program)
        {
            WorkingDirectory = folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            // Offline and quiet: no telemetry, no update check.
            Environment = { ["REDOCLY_TELEMETRY"] = "off", ["REDOCLY_SUPPRESS_UPDATE_NOTICE"] = "true" },
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = System.Diagnostics.Process.Start(start)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var output = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var errorOutput = process.StandardError.ReadToEndAsync(timeout.Token);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        return (process.ExitCode, await output, await errorOutput);
    }

    [Fact]
    public async Task The_batch_endpoint_documents_a_JSON_array_of_events_and_NDJSON()
    {
        var document = await DocumentAsync();
        var content = document["paths"]!["/api/batch"]!["post"]!["requestBody"]!["content"]!.AsObject();

        Assert.Equal("array", content["application/json"]!["schema"]!["type"]!.GetValue<string>());
        var item = content["application/json"]!["schema"]!["items"]!["$ref"]!.GetValue<string>();
        Assert.NotNull(document["components"]!["schemas"]![item.Split('/')[^1]]!["properties"]!["name"]);
        Assert.All(EventIntake.NdjsonTypes, type => Assert.Equal("string", content[type]?["schema"]?["type"]?.GetValue<string>()));
    }

    private static bool IsTheDocumentItself(RouteEndpoint endpoint) =>
        endpoint.RoutePattern.RawText == ApiDocument.Pattern
        || ("/" + endpoint.RoutePattern.RawText!.TrimStart('/')).StartsWith(ApiDocument.UiPath, StringComparison.Ordinal);

    private static bool Documents(JsonNode operation, int status, string type) => ApiContract.DocumentsProblem(operation, status, type);

    private static IEnumerable<(string Path, string Method, JsonNode Operation)> Operations(JsonNode document) =>
        document["paths"]!.AsObject().SelectMany(path => path.Value!.AsObject().Select(op => (path.Key, op.Key, op.Value!)));

    /// <summary>The key an operation takes: the FME SDK's for <c>/fme/api</c>, else the one of its role.</summary>
    private static Action<HttpRequestHeaders>? RightKey(string path, JsonNode operation)
    {
        if (path.StartsWith(FmeSdkApi.BasePath, StringComparison.Ordinal))
        {
            return headers => headers.Authorization = new("Bearer", DocumentedApi.FmeKey);
        }
        var roles = operation["security"]?.AsArray().SelectMany(r => r!.AsObject().SelectMany(s => s.Value!.AsArray())).Select(r => r!.GetValue<string>());
        return roles?.FirstOrDefault() switch
        {
            ApiKeys.IngestRole => Header(ApiKeys.HeaderName, DocumentedApi.IngestKey),
            ApiKeys.AdminRole => Header(ApiKeys.HeaderName, DocumentedApi.AdminKey),
            _ => null,
        };
    }

    private static Action<HttpRequestHeaders> Header(string name, string value) => headers => headers.Add(name, value);

    private async Task<JsonNode> DocumentAsync()
    {
        using var http = api.CreateClient();
        return (await ApiContract.FetchAsync(http)).Document;
    }

    /// <summary>
    /// The Api in-process with both keys, an FME SDK key, few events per batch and an S3 that does not answer (nothing
    /// here stores an event; the object list must fail as it does when S3 is down).
    /// </summary>
    public sealed class DocumentedApi : WebApplicationFactory<Rejection>
    {
        public const string IngestKey = "ingest-key-of-the-openapi-tests";
        public const string AdminKey = "admin-key-of-the-openapi-tests";
        public const string FmeKey = "fme-key-of-the-openapi-tests";
        public static readonly string[] Keys = [IngestKey, AdminKey, FmeKey];

        private readonly string _spool = TestPaths.NewTemporaryDirectory("openapi");

        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            foreach (var (name, value) in new Dictionary<string, string>
            {
                ["SPOOL_DIR"] = _spool,
                ["INSTANCE_ID"] = "openapi",
                ["S3_BUCKET_NAME"] = "openapi-tests",
                ["AWS_REGION"] = "us-east-1",
                ["AWS_ENDPOINT_URL_S3"] = $"http://127.0.0.1:{ChildProcess.FreeTcpPort()}",
                ["INGEST_API_KEY"] = IngestKey,
                ["ADMIN_API_KEY"] = AdminKey,
                ["HARNESS_FME_API_KEY"] = FmeKey,
                ["FME_FORWARD"] = "off",
                ["BATCH_MAX_EVENTS"] = "2",
                ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "",
            })
            {
                builder.UseSetting(name, value);
            }
            // Credentials of its own, so the SDK looks for none on this machine before finding S3 closed.
            builder.ConfigureTestServices(services => services.AddSingleton<IAmazonS3>(provider => new AmazonS3Client(
                new BasicAWSCredentials("openapi", "openapi"),
                S3Extensions.CreateS3Config(provider.GetRequiredService<IOptions<S3Options>>().Value))));
        }

        protected override void Dispose(bool disposing)
        {
            base.Dispose(disposing);
            if (disposing && Directory.Exists(_spool))
            {
                Directory.Delete(_spool, recursive: true);
            }
        }
    }
}

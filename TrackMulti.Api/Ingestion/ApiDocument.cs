using System.ComponentModel;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Net.Http.Headers;
using Microsoft.OpenApi;
using Scalar.AspNetCore;
using TrackMulti.Api.Model;

namespace TrackMulti.Api.Ingestion;

/// <summary>
/// The Api's OpenAPI document (<c>/openapi/v1.json</c>), built from the endpoints themselves: their typed results,
/// the request shapes they accept, the refusals they declare (<see cref="Refuses{TBuilder}"/>, each one a row of
/// <see cref="Rejections"/>) and the keys they require (<see cref="ApiKeys"/>). In Development, a browsing UI at
/// <c>/scalar</c>.
/// </summary>
public static class ApiDocument
{
    public const string Name = "v1";

    /// <summary>Where the document is served (<c>{documentName}</c> is <see cref="Name"/>).</summary>
    public const string Pattern = "/openapi/{documentName}.json";

    public const string UiPath = "/scalar";

    public const string ProblemContentType = "application/problem+json";

    /// <summary>Security schemes: an Api key in <c>Authorization: Bearer</c> or in <c>X-Api-Key</c>; the FME SDK's key.</summary>
    public const string BearerScheme = "apiKeyBearer";
    public const string HeaderScheme = "apiKeyHeader";
    public const string FmeSdkScheme = "fmeSdkKey";

    public static IHostApplicationBuilder AddApiDocument(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOpenApi(Name, options =>
        {
            options.AddDocumentTransformer(DescribeDocumentAsync);
            options.AddOperationTransformer(DescribeOperationAsync);
            options.AddSchemaTransformer(EcmaPatternsAsync);
            options.AddSchemaTransformer(ReadersRulesAsync);
        });
        return builder;
    }

    /// <summary>
    /// The document for everyone, like <c>/health</c> and <c>/api/status</c>: it names schemes, never a key, and only
    /// says what the endpoints already answer to anyone who asks. The UI only in Development.
    /// </summary>
    public static WebApplication MapApiDocument(this WebApplication app)
    {
        app.MapOpenApi(Pattern);
        if (app.Environment.IsDevelopment())
        {
            // Everything the page needs comes from the Api: no web fonts, no telemetry, no assistant calling out.
            app.MapScalarApiReference(UiPath, ui => ui.WithOpenApiRoutePattern(Pattern).DisableDefaultFonts().DisableTelemetry().DisableAgent());
        }
        return app;
    }

    /// <summary>Declares refusals an endpoint can answer with: documented as problem responses, by status and type.</summary>
    public static TBuilder Refuses<TBuilder>(this TBuilder endpoint, IEnumerable<Rejection> rejections) where TBuilder : IEndpointConventionBuilder
    {
        var declared = new RefusalsMetadata([.. rejections]);
        endpoint.WithMetadata(declared);
        foreach (var status in declared.Rejections.GroupBy(r => r.Status))
        {
            var schema = status.Any(r => r.ErrorsByField) ? typeof(HttpValidationProblemDetails) : typeof(ProblemDetails);
            endpoint.WithMetadata(new ProducesResponseTypeMetadata(status.Key, schema, [ProblemContentType]));
        }
        return endpoint;
    }

    /// <summary>
    /// Documents the body an endpoint reads itself. Not <c>Accepts</c>: its metadata makes routing turn other content
    /// types away with a bare 415, before the endpoint could answer with its own problem type.
    /// </summary>
    public static TBuilder Reads<TBody, TBuilder>(this TBuilder endpoint, params string[] contentTypes) where TBuilder : IEndpointConventionBuilder =>
        endpoint.WithMetadata(new RequestBodyMetadata(typeof(TBody), contentTypes));

    public static TBuilder Refuses<TBuilder>(this TBuilder endpoint, params Rejection[] rejections) where TBuilder : IEndpointConventionBuilder =>
        endpoint.Refuses((IEnumerable<Rejection>)rejections);

    private static Task DescribeDocumentAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        document.Info = new OpenApiInfo
        {
            Title = "TrackMulti Api",
            Version = ServiceInfoEndpoint.Version,
            Description = "Product-analytics events to S3 (NDJSON) and Harness FME. Every refusal is an RFC 7807 problem "
                + "(application/problem+json) whose `type` (urn:trackmulti:problem:…) says which; each operation lists its own.",
        };
        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
        document.Components.SecuritySchemes[BearerScheme] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            Description = "An Api key as `Authorization: Bearer <key>`: INGEST_API_KEY (role `ingest`) or ADMIN_API_KEY (role `admin`), when set.",
        };
        document.Components.SecuritySchemes[HeaderScheme] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.ApiKey,
            In = ParameterLocation.Header,
            Name = ApiKeys.HeaderName,
            Description = $"The same Api key in `{ApiKeys.HeaderName}`.",
        };
        document.Components.SecuritySchemes[FmeSdkScheme] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            Description = "The FME SDK key this TrackMulti is configured with (HARNESS_FME_API_KEY or HARNESS_FME_SERVER_KEY), "
                + "as the FME SDK sends it. A beacon carries it in its body's `token` instead.",
        };

        // Where the document was asked for, with no trailing slash: the paths begin with one.
        foreach (var server in document.Servers ?? [])
        {
            server.Url = server.Url?.TrimEnd('/');
        }

        // The probes are health-check endpoints, not route handlers, so the endpoints do not describe themselves.
        document.Paths ??= new OpenApiPaths();
        foreach (var (path, summary) in new[]
        {
            (Extensions.AlivePath, "Liveness: the process answers and its spool can be trusted."),
            (Extensions.ReadyPath, "Readiness: every health check, S3's bucket included."),
        })
        {
            document.Paths[path] = new OpenApiPathItem
            {
                Operations = new Dictionary<HttpMethod, OpenApiOperation>
                {
                    [HttpMethod.Get] = new()
                    {
                        Summary = summary,
                        Tags = new HashSet<OpenApiTagReference> { new("Health", document) },
                        Security = [],
                        Responses = new OpenApiResponses
                        {
                            ["200"] = PlainText("Healthy (or Degraded)."),
                            ["503"] = PlainText("Unhealthy."),
                        },
                    },
                },
            };
        }
        return Task.CompletedTask;
    }

    private static OpenApiResponse PlainText(string description) => new()
    {
        Description = description,
        Content = new Dictionary<string, OpenApiMediaType>
        {
            ["text/plain"] = new() { Schema = new OpenApiSchema { Type = JsonSchemaType.String } },
        },
    };

    private static async Task DescribeOperationAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        var metadata = context.Description.ActionDescriptor.EndpointMetadata;
        if (metadata.OfType<RequestBodyMetadata>().LastOrDefault() is { } body)
        {
            var schema = await BodySchemaAsync(body.Type, context, cancellationToken);
            operation.RequestBody = new OpenApiRequestBody
            {
                Required = true,
                Content = body.ContentTypes.ToDictionary(type => type, type => EventIntake.NdjsonTypes.Contains(type, StringComparer.OrdinalIgnoreCase)
                    // NDJSON is a text stream of the JSON array's items, one a line, which a JSON schema cannot describe as a whole.
                    ? new OpenApiMediaType
                    {
                        Schema = new OpenApiSchema
                        {
                            Type = JsonSchemaType.String,
                            Description = "NDJSON: one event per line, each as one item of the application/json array; empty lines are passed over.",
                        },
                    }
                    : new OpenApiMediaType { Schema = schema }),
            };
        }
        DescribeRefusals(operation, metadata.OfType<RefusalsMetadata>().SelectMany(m => m.Rejections).Distinct());

        var roles = metadata.OfType<ApiKeyRequirement>().Select(r => r.Role).Distinct().ToList();
        if (roles.Count > 0)
        {
            // Either scheme will do: alternatives in OpenAPI are separate requirements.
            operation.Security =
            [
                new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(BearerScheme, context.Document)] = roles },
                new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(HeaderScheme, context.Document)] = roles },
            ];
        }
        else if (metadata.OfType<FmeSdkKeyRequirement>().Any())
        {
            operation.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(FmeSdkScheme, context.Document)] = [] }];
        }
        else
        {
            // Open (a beacon carries its key in its body): said so, rather than left for a client to guess.
            operation.Security = [];
        }
    }

    /// <summary>A body's schema as a named component (a list: an array of one), so a generated client names the type.</summary>
    private static async Task<IOpenApiSchema> BodySchemaAsync(Type type, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        var item = type.IsGenericType && type.GetGenericTypeDefinition() is var definition
            && (definition == typeof(List<>) || definition == typeof(IReadOnlyList<>)) ? type.GetGenericArguments()[0] : null;
        if (item is not null)
        {
            var array = new OpenApiSchema { Type = JsonSchemaType.Array, Items = await BodySchemaAsync(item, context, cancellationToken) };
            DescribeRows(array, item);
            return array;
        }
        var name = type.IsGenericType
            ? type.Name[..type.Name.IndexOf('`')] + "Of" + string.Concat(type.GetGenericArguments().Select(NameOf))
            : type.Name;
        var document = context.Document!;
        if (document.Components?.Schemas?.ContainsKey(name) != true)
        {
            document.AddComponent(name, await context.GetOrCreateSchemaAsync(type, cancellationToken: cancellationToken));
        }
        return new OpenApiSchemaReference(name, document);

        static string NameOf(Type argument) =>
            argument.IsGenericType ? "ListOf" + NameOf(argument.GetGenericArguments()[0]) : argument.Name;
    }

    /// <summary>Each status's response names its problem types, with an example of each.</summary>
    private static void DescribeRefusals(OpenApiOperation operation, IEnumerable<Rejection> rejections)
    {
        foreach (var status in rejections.GroupBy(r => r.Status))
        {
            operation.Responses ??= new OpenApiResponses();
            var code = status.Key.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (operation.Responses.TryGetValue(code, out var existing) && existing is OpenApiResponse response)
            {
                response.Description = "Refused: " + string.Join("; ", status.Select(r => $"`{r.Type}` ({r.Title})"));
                if (status.Where(r => r.SaysWhenToRetry).Select(r => $"`{r.Type}`").ToList() is { Count: > 0 } retryable)
                {
                    response.Headers ??= new Dictionary<string, IOpenApiHeader>();
                    response.Headers[HeaderNames.RetryAfter] = new OpenApiHeader
                    {
                        Description = $"Seconds to wait before sending again (with {string.Join(", ", retryable)}).",
                        Schema = new OpenApiSchema { Type = JsonSchemaType.Integer, Minimum = "1" },
                    };
                }
                if (response.Content?.TryGetValue(ProblemContentType, out var found) == true && found is OpenApiMediaType media)
                {
                    media.Examples ??= new Dictionary<string, IOpenApiExample>();
                    foreach (var rejection in status)
                    {
                        media.Examples[rejection.Type[(rejection.Type.LastIndexOf(':') + 1)..]] = new OpenApiExample
                        {
                            Summary = rejection.Title,
                            Value = new JsonObject { ["type"] = rejection.Type, ["title"] = rejection.Title, ["status"] = rejection.Status },
                        };
                    }
                }
            }
        }
    }

    /// <summary>
    /// The rules the readers check, stated on the shapes they read, from the readers' own constants and field tables:
    /// <see cref="TrackEventReader"/> (events, by <see cref="TrackEventReader.EventShape"/>) and <see cref="FmeSdkReader"/>.
    /// </summary>
    private static Task ReadersRulesAsync(OpenApiSchema schema, OpenApiSchemaTransformerContext context, CancellationToken cancellationToken)
    {
        var type = context.JsonTypeInfo.Type;
        if (type == typeof(TrackEventRequest))
        {
            DescribeEvent(schema, TrackEventReader.EventShape.Track);
        }
        else if (type == typeof(FmeEvent))
        {
            DescribeEvent(schema, TrackEventReader.EventShape.FmeSdk);
        }
        else if (type == typeof(FmeImpressionGroup))
        {
            DescribeFields(schema, FmeSdkReader.ImpressionGroupFields);
        }
        else if (type == typeof(FmeImpression))
        {
            DescribeFields(schema, FmeSdkReader.ImpressionFields);
        }
        else if (type == typeof(FmeImpressionCount))
        {
            DescribeFields(schema, FmeSdkReader.ImpressionCountFields);
        }
        else if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(FmeBeacon<>)
            && schema.Properties?.TryGetValue("entries", out var entries) == true && entries is OpenApiSchema sent)
        {
            sent.Type &= ~JsonSchemaType.Null; // the reader refuses a beacon without them
        }
        else if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>))
        {
            DescribeRows(schema, type.GetGenericArguments()[0]);
        }
        return Task.CompletedTask;
    }

    /// <summary>An array of what a request stores (events, impressions by flag, counts): at least one row, or <c>empty-batch</c>.</summary>
    private static void DescribeRows(OpenApiSchema array, Type item)
    {
        if (item == typeof(FmeImpressionGroup))
        {
            // The rows are the impressions: some group must hold one (a group may be empty beside others).
            array.Contains = new OpenApiSchema
            {
                Type = JsonSchemaType.Object,
                Required = new HashSet<string> { "i" },
                Properties = new Dictionary<string, IOpenApiSchema> { ["i"] = new OpenApiSchema { MinItems = BatchReadResult.MinRows } },
            };
            array.MinItems = BatchReadResult.MinRows;
        }
        else if (item == typeof(TrackEventRequest) || item == typeof(FmeEvent) || item == typeof(FmeImpressionCount))
        {
            array.MinItems = BatchReadResult.MinRows;
        }
    }

    /// <summary>"Not blank" as JSON Schema says it; the readers check <see cref="string.IsNullOrWhiteSpace(string)"/>.</summary>
    private const string NotBlankPattern = @"\S";

    /// <summary>One event's fields as <see cref="TrackEventReader"/> reads them in <paramref name="shape"/>.</summary>
    private static void DescribeEvent(OpenApiSchema schema, TrackEventReader.EventShape shape)
    {
        var fields = schema.Properties ??= new Dictionary<string, IOpenApiSchema>();
        string? DescriptionOf(string field) => fields.TryGetValue(field, out var found) ? found.Description : null;

        fields[shape.Name] = Text(required: true, maxLength: null, DescriptionOf(shape.Name) ?? "The FME event type.",
            Ecma(TrackEventReader.EventTypePatternText));
        fields[shape.TrafficType] = Text(required: shape.IsFmeSdk, maxLength: null, DescriptionOf(shape.TrafficType));
        fields["key"] = Text(required: shape.IsFmeSdk, TrackEventReader.MaxKeyLength, DescriptionOf("key"));
        fields["value"] = new OpenApiSchema
        {
            Type = JsonSchemaType.Number | JsonSchemaType.Null,
            Description = DescriptionOf("value") ?? "A finite number, stored exactly as sent.",
        };
        fields["properties"] = new OpenApiSchema
        {
            Type = JsonSchemaType.Object | JsonSchemaType.Null,
            MaxProperties = TrackEventReader.MaxProperties,
            AdditionalProperties = new OpenApiSchema
            {
                Type = JsonSchemaType.String | JsonSchemaType.Number | JsonSchemaType.Boolean | JsonSchemaType.Null,
            },
            Description = $"Flat: strings, numbers, booleans or nulls; at most {TrackEventReader.MaxProperties} of them and "
                + $"{TrackEventReader.MaxPropertiesBytes} bytes as FME counts them (1 KB + 2 per character of names and strings, 8 per number, 4 per boolean).",
        };
        schema.Required = new HashSet<string> { shape.Name };
        if (shape.IsFmeSdk)
        {
            fields["timestamp"] = new OpenApiSchema
            {
                Type = JsonSchemaType.Integer,
                Format = "int64",
                Minimum = Invariant(TrackEventReader.MinTimestamp),
                Description = "When the event happened, milliseconds since the epoch.",
            };
            schema.Required.UnionWith([shape.TrafficType, "key", "timestamp"]);
            schema.AdditionalPropertiesAllowed = false;
        }
        else
        {
            // No value is valid ("not": {}): the field may only be absent; a generated client types it as never.
            fields["receivedAt"] = new OpenApiSchema { Not = new OpenApiSchema(), Description = "The server's: refused when sent." };
        }
    }

    /// <summary>The fields of an FME SDK post as <see cref="FmeSdkReader"/> reads them; absent and null are the same for one not required.</summary>
    private static void DescribeFields(OpenApiSchema schema, IEnumerable<FmeSdkField> rules)
    {
        var fields = schema.Properties ??= new Dictionary<string, IOpenApiSchema>();
        schema.Required ??= new HashSet<string>();
        foreach (var rule in rules)
        {
            fields[rule.Name] = rule switch
            {
                TextField text => Text(text.Required, text.MaxLength, fields.TryGetValue(rule.Name, out var found) ? found.Description : null),
                WholeNumberField number => new OpenApiSchema
                {
                    Type = JsonSchemaType.Integer | (number.Required ? 0 : JsonSchemaType.Null),
                    Format = "int64",
                    Minimum = number.Minimum == long.MinValue ? null : Invariant(number.Minimum),
                },
                _ => throw new InvalidOperationException($"No schema for {rule}."),
            };
            if (rule.Required)
            {
                schema.Required.Add(rule.Name);
            }
            else
            {
                schema.Required.Remove(rule.Name);
            }
        }
    }

    /// <summary>A string field that must not be blank; one not required may be null, which reads as absent.</summary>
    private static OpenApiSchema Text(bool required, int? maxLength, string? description, string? pattern = null) => new()
    {
        Type = JsonSchemaType.String | (required ? 0 : JsonSchemaType.Null),
        MinLength = 1,
        MaxLength = maxLength,
        Pattern = pattern ?? NotBlankPattern,
        Description = description,
    };

    private static string Invariant(long number) => number.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>.NET patterns end in <c>\z</c> (no final newline); JSON Schema's (ECMA-262) have no <c>\z</c>, and <c>$</c> means the same there.</summary>
    private static Task EcmaPatternsAsync(OpenApiSchema schema, OpenApiSchemaTransformerContext context, CancellationToken cancellationToken)
    {
        if (schema.Pattern is { } pattern)
        {
            schema.Pattern = Ecma(pattern);
        }
        return Task.CompletedTask;
    }

    /// <summary>A .NET pattern as JSON Schema states it (ECMA-262: <c>$</c> for <c>\z</c>).</summary>
    public static string Ecma(string pattern) =>
        pattern.EndsWith(@"\z", StringComparison.Ordinal) ? pattern[..^2] + "$" : pattern;
}

/// <summary>The body an endpoint reads itself, for the document (<see cref="ApiDocument.Reads{TBody, TBuilder}"/>).</summary>
public sealed record RequestBodyMetadata(Type Type, IReadOnlyList<string> ContentTypes);

/// <summary>The refusals an endpoint declares (<see cref="ApiDocument.Refuses{TBuilder}(TBuilder, IEnumerable{Rejection})"/>).</summary>
public sealed record RefusalsMetadata(IReadOnlyList<Rejection> Rejections);

/// <summary>The endpoint requires an Api key of this role (<c>ingest</c>, <c>admin</c>): set with the key's filter.</summary>
public sealed record ApiKeyRequirement(string Role);

/// <summary>The endpoint requires the FME SDK key in <c>Authorization: Bearer</c>.</summary>
public sealed record FmeSdkKeyRequirement;

/// <summary>
/// One event as <c>POST /api/track</c> reads it, for the document only: its rules are <see cref="TrackEventReader"/>'s,
/// which the schema states (<see cref="ApiDocument"/>).
/// </summary>
[Description("Top-level fields not named here are kept as sent, except `receivedAt`, which is the server's.")]
public sealed record TrackEventRequest(
    [property: Description("The FME event type.")]
    string Name,
    [property: Description("Lower-cased as the FME SDKs do; `user` when absent.")]
    string? TrafficType = null,
    [property: Description("The FME key; stored trimmed.")]
    string? Key = null,
    [property: Description("A finite number, stored exactly as sent.")]
    double? Value = null,
    Dictionary<string, JsonElement?>? Properties = null);

/// <summary>An FME SDK beacon (<c>navigator.sendBeacon</c>, sent as <c>text/plain</c>): the post's entries and its key.</summary>
public sealed record FmeBeacon<TEntries>(TEntries Entries, string Token, string? Sdk = null);

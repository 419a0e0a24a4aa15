using System.Text;

namespace TrackMulti.Tests.Infrastructure;

/// <summary>
/// DDL text as Hive's lexer and semantic analyzer read it, which is how Athena reads <c>CREATE EXTERNAL TABLE</c>:
/// a string literal is <c>'…'</c> or <c>"…"</c> with backslash escapes, and literals written one right after the
/// other are one token (HiveLexer.g: <c>StringLiteral : ( '\'' … '\'' | '"' … '"' )+</c>), whose value is the parts
/// joined and unescaped (BaseSemanticAnalyzer.unescapeSQLString). So SQL's <c>''</c> is no quote in Hive: it ends one
/// literal and opens the next.
/// </summary>
internal static class HiveDdl
{
    public enum TokenKind { StringLiteral, Identifier, QuotedIdentifier, Symbol }

    /// <param name="Text">The token as written (a literal with its quotes).</param>
    /// <param name="Parts">For a string literal, how many quoted literals the lexer joined into it.</param>
    public sealed record Token(TokenKind Kind, string Text, int Parts = 1)
    {
        /// <summary>A string literal's value as Hive stores it.</summary>
        public string Value => Kind == TokenKind.StringLiteral ? Unescape(Text) : Text;
    }

    /// <summary>The tokens of <paramref name="text"/>, without whitespace and <c>--</c> comments.</summary>
    public static List<Token> Tokenise(string text)
    {
        var tokens = new List<Token>();
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (c is ' ' or '\r' or '\t' or '\n')
            {
                i++;
            }
            else if (c == '-' && i + 1 < text.Length && text[i + 1] == '-')
            {
                while (i < text.Length && text[i] is not ('\n' or '\r'))
                {
                    i++;
                }
            }
            else if (c is '\'' or '"')
            {
                var start = i;
                var parts = 0;
                // The lexer's (…)+ : another quote right after a closing one continues the same token.
                while (i < text.Length && text[i] is '\'' or '"')
                {
                    var quote = text[i++];
                    while (i < text.Length && text[i] != quote)
                    {
                        i += text[i] == '\\' ? 2 : 1;
                    }
                    if (i >= text.Length)
                    {
                        throw new FormatException($"Unterminated string literal at {start}: {text[start..]}");
                    }
                    i++;
                    parts++;
                }
                tokens.Add(new Token(TokenKind.StringLiteral, text[start..i], parts));
            }
            else if (c == '`')
            {
                var end = text.IndexOf('`', i + 1);
                if (end < 0)
                {
                    throw new FormatException($"Unterminated quoted identifier at {i}.");
                }
                tokens.Add(new Token(TokenKind.QuotedIdentifier, text[(i + 1)..end]));
                i = end + 1;
            }
            else if (char.IsAsciiLetterOrDigit(c))
            {
                var start = i;
                while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] == '_'))
                {
                    i++;
                }
                tokens.Add(new Token(TokenKind.Identifier, text[start..i]));
            }
            else
            {
                tokens.Add(new Token(TokenKind.Symbol, c.ToString()));
                i++;
            }
        }
        return tokens;
    }

    /// <summary>
    /// A string literal token's value, as BaseSemanticAnalyzer.unescapeSQLString computes it: the text inside each
    /// pair of quotes (a quote of the other kind inside is an ordinary character), joined, with its escapes.
    /// </summary>
    public static string Unescape(string literal)
    {
        char? enclosure = null;
        var value = new StringBuilder(literal.Length);
        for (var i = 0; i < literal.Length; i++)
        {
            var c = literal[i];
            if (enclosure is null)
            {
                if (c is '\'' or '"')
                {
                    enclosure = c;
                }
                continue; // anything between the parts is dropped
            }
            if (c == enclosure)
            {
                enclosure = null;
                continue;
            }
            if (c == '\\' && i + 6 < literal.Length && literal[i + 1] == 'u')
            {
                value.Append((char)Convert.ToInt32(literal.Substring(i + 2, 4), 16));
                i += 5;
                continue;
            }
            if (c == '\\' && i + 4 < literal.Length
                && literal[i + 1] is '0' or '1' && literal[i + 2] is >= '0' and <= '7' && literal[i + 3] is >= '0' and <= '7')
            {
                value.Append((char)(byte)((literal[i + 1] - '0') * 64 + (literal[i + 2] - '0') * 8 + (literal[i + 3] - '0')));
                i += 3;
                continue;
            }
            if (c == '\\' && i + 2 < literal.Length)
            {
                var next = literal[++i];
                value.Append(next switch
                {
                    '0' => "\0",
                    'b' => "\b",
                    'n' => "\n",
                    'r' => "\r",
                    't' => "\t",
                    'Z' => "\u001A",
                    '%' => "\\%", // as MySQL does, Hive keeps these two escaped
                    '_' => "\\_",
                    _ => next.ToString(),
                });
                continue;
            }
            value.Append(c);
        }
        return value.ToString();
    }

    /// <summary>Each <c>CREATE …</c> statement of <paramref name="ddl"/>, as its tokens up to its <c>;</c>.</summary>
    public static List<List<Token>> CreateStatements(string ddl)
    {
        var statements = new List<List<Token>>();
        var current = new List<Token>();
        foreach (var token in Tokenise(ddl))
        {
            if (token is { Kind: TokenKind.Symbol, Text: ";" })
            {
                if (current.Count > 0 && current[0].Text.Equals("CREATE", StringComparison.OrdinalIgnoreCase))
                {
                    statements.Add(current);
                }
                current = [];
            }
            else
            {
                current.Add(token);
            }
        }
        return statements;
    }

    /// <summary>
    /// The key-value pairs of a statement's property list (<c>SERDEPROPERTIES</c>, <c>TBLPROPERTIES</c>), as Hive's
    /// parser reads them (<c>StringLiteral = StringLiteral</c>, comma separated) and stores them (unescaped).
    /// </summary>
    public static Dictionary<string, string> Properties(IReadOnlyList<Token> statement, string clause)
    {
        var properties = new Dictionary<string, string>();
        var at = statement.ToList().FindIndex(t => t.Kind == TokenKind.Identifier && t.Text.Equals(clause, StringComparison.OrdinalIgnoreCase));
        if (at < 0)
        {
            return properties;
        }
        Expect(statement, ++at, TokenKind.Symbol, "(");
        while (true)
        {
            var key = Expect(statement, ++at, TokenKind.StringLiteral);
            Expect(statement, ++at, TokenKind.Symbol, "=");
            var value = Expect(statement, ++at, TokenKind.StringLiteral);
            properties.Add(key.Value, value.Value);
            if (Expect(statement, ++at, TokenKind.Symbol).Text == ")")
            {
                return properties;
            }
            Expect(statement, at, TokenKind.Symbol, ",");
        }
    }

    /// <summary>
    /// The patterns of a <c>timestamp.formats</c> value, split as the JSON SerDe splits it
    /// (HiveStringUtils.splitAndUnEscape: at each comma not escaped by a backslash).
    /// </summary>
    public static List<string> TimestampFormats(string value)
    {
        var formats = new List<string>();
        var current = new StringBuilder();
        for (var i = 0; i < value.Length; i++)
        {
            if (value[i] == '\\' && i + 1 < value.Length)
            {
                current.Append(value[++i]);
            }
            else if (value[i] == ',')
            {
                formats.Add(current.ToString());
                current.Clear();
            }
            else
            {
                current.Append(value[i]);
            }
        }
        formats.Add(current.ToString());
        return formats;
    }

    private static Token Expect(IReadOnlyList<Token> statement, int at, TokenKind kind, string? text = null)
    {
        if (at >= statement.Count || statement[at].Kind != kind || (text is not null && statement[at].Text != text))
        {
            throw new FormatException($"Expected {text ?? kind.ToString()} at token {at}, found {(at < statement.Count ? statement[at].Text : "the end")}.");
        }
        return statement[at];
    }
}
